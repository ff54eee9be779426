//! A Kafka-protocol broker for a test: `tansu` (installed by `.ci/run`), started on a free
//! loopback port with in-memory storage, and killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker of this test's own.
pub struct Tansu {
    child: Child,
    pub port: u16,
}

impl Tansu {
    /// The `tansu` binary: `$EVENTLENS_TANSU`, else the one cargo installed, else `PATH`'s.
    fn binary() -> PathBuf {
        if let Some(p) = std::env::var_os("EVENTLENS_TANSU") {
            return PathBuf::from(p);
        }
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
        match home.map(|h| h.join("bin/tansu")) {
            Some(p) if p.exists() => p,
            _ => PathBuf::from("tansu"),
        }
    }

    /// Starts a broker on a free port and waits until it takes connections.
    pub fn start() -> Tansu {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let bin = Tansu::binary();
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {}: {e} (install it: see .ci/run, `cargo install --locked tansu`)",
                    bin.display()
                )
            });
        let mut t = Tansu { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = t.child.try_wait() {
                panic!("tansu exited before it listened: {status}");
            }
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
