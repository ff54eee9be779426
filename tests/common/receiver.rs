//! A small HTTP/1.1 receiver on 127.0.0.1:0 for the re-drive tests: it records every request
//! (when it arrived, its headers and body) and answers with the statuses it is scripted
//! to, then 200. Written on std alone so that the tests see exactly what went over the wire.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Names lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct State {
    got: Vec<Received>,
    statuses: VecDeque<u16>,
}

/// The receiver; it runs until the test process ends.
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Self::answering(&[])
    }

    /// Answers the first requests with `statuses`, in order, then 200.
    pub fn answering(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State {
            got: Vec::new(),
            statuses: statuses.iter().copied().collect(),
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Receiver {
            url: format!("http://{addr}/events"),
            state,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("lock").got.clone()
    }

    /// Waits until `n` requests arrived (or `timeout` passed) and returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let t0 = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || t0.elapsed() > timeout {
                return got;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_nodelay(true);
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let at = Instant::now();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        assert!(
            !headers.iter().any(|(k, _)| k == "transfer-encoding"),
            "the test receiver reads Content-Length bodies only"
        );
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let status = {
            let mut s = state.lock().expect("lock");
            let status = s.statuses.pop_front().unwrap_or(200);
            s.got.push(Received {
                at,
                method,
                path,
                headers,
                body,
                status,
            });
            status
        };
        let reply = format!(
            "HTTP/1.1 {status} {}\r\ncontent-length: 0\r\n\r\n",
            if status < 300 { "OK" } else { "Failed" }
        );
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
