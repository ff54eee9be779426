//! The real binary's `--screenshot` under Xvfb: a file whose records draw nothing and an
//! empty batch both render and return as promptly as a sample capture, a run that can
//! never finish gives up at the deadline saying what it waited for, a missing file beside a
//! readable one is reported and not fatal, and a startup option that does not apply to the
//! input exits 2 with one sentence.
//!
//! Needs `xvfb-run` (`apt-get install xvfb xauth libgl1-mesa-dri libegl1
//! libxkbcommon-x11-0`). Without it the tests say so and pass, unless
//! `EVENTLENS_REQUIRE_XVFB=1` (CI), which makes a missing Xvfb a failure.
#![cfg(unix)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// No run may take longer than this (the app's own default deadline is 60 s).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// One Xvfb at a time: parallel `xvfb-run -a` can race for the same display number.
static XVFB: Mutex<()> = Mutex::new(());

fn xvfb_available() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("xvfb-run").is_file()));
    if found {
        return true;
    }
    if std::env::var("EVENTLENS_REQUIRE_XVFB").as_deref() == Ok("1") {
        panic!("xvfb-run is not installed, and EVENTLENS_REQUIRE_XVFB=1 requires it");
    }
    eprintln!(
        "skipped: xvfb-run is not installed (apt-get install xvfb xauth libgl1-mesa-dri \
         libegl1 libxkbcommon-x11-0); set EVENTLENS_REQUIRE_XVFB=1 to make this a failure"
    );
    false
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Where the screenshots go (kept, to look at).
fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&d).expect("create the screenshot folder");
    d
}

struct Run {
    code: Option<i32>,
    stderr: String,
    secs: f64,
}

/// `xvfb-run eventlens FILE --screenshot OUT`, killed (with Xvfb) if it outlives `limit`.
fn screenshot(file: &Path, out: &Path, env: &[(&str, &str)], limit: Duration) -> Run {
    screenshot_with(&[file], &[], out, env, limit)
}

/// `xvfb-run eventlens FILES... ARGS... --screenshot OUT`, killed (with Xvfb) if it outlives
/// `limit`.
fn screenshot_with(
    files: &[&Path],
    args: &[&str],
    out: &Path,
    env: &[(&str, &str)],
    limit: Duration,
) -> Run {
    let _ = std::fs::remove_file(out);
    let file = files.first().copied().unwrap_or(Path::new(""));
    let mut cmd = Command::new("xvfb-run");
    // eventlens's own exit status, printed by a shell inside xvfb-run: xvfb-run exits with
    // its own code when cleaning up its temporary directory fails, hiding eventlens's.
    cmd.args(["-a", "-s", "-screen 0 1600x1000x24"])
        .args([
            "sh",
            "-c",
            r#""$@"; echo "eventlens exit status $?" >&2"#,
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_eventlens"))
        .args(files)
        .args(args)
        .arg("--screenshot")
        .arg(out)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so a run past the limit is killed with its Xvfb.
        .process_group(0);
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("start xvfb-run");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for xvfb-run") {
            break st;
        }
        if t0.elapsed() > limit {
            // SAFETY: kill(2) on the process group this test started.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
            panic!(
                "{} --screenshot still running after {limit:?}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let secs = t0.elapsed().as_secs_f64();
    let mut stderr = reader.join().unwrap_or_default();
    let mark = "eventlens exit status ";
    let code = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(mark)?.trim().parse().ok());
    if let Some(at) = stderr.rfind(mark) {
        stderr.truncate(at);
    }
    Run {
        // Without the shell's line (killed, or the shell never ran), xvfb-run's own.
        code: code.or(status.code()),
        stderr,
        secs,
    }
}

/// A PNG of a real window: the signature, and more than a blank frame compresses to.
fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 30_000,
        "{}: only {} bytes",
        path.display(),
        bytes.len()
    );
}

#[test]
fn files_that_draw_nothing_screenshot_as_promptly_as_a_sample_capture() {
    let _x = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    if !xvfb_available() {
        return;
    }
    let out = out_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty-batch.json");
    std::fs::write(&empty, "[]\n").expect("write");

    // A normal capture first: the time to beat.
    let sample = screenshot(
        &fixture("sample-traces/capture.jsonl"),
        &out.join("sample-capture.png"),
        &[],
        RUN_LIMIT,
    );
    assert_eq!(sample.code, Some(0), "{}", sample.stderr);
    assert_png(&out.join("sample-capture.png"));

    // Spans that are neither messaging, calls nor store writes: loaded, no events.
    let spans = screenshot(
        &fixture("tests/fixtures/public/jaeger-ui/otlp2jaeger-multi-in.json.txt"),
        &out.join("spans-without-events.png"),
        &[],
        RUN_LIMIT,
    );
    assert_eq!(spans.code, Some(0), "{}", spans.stderr);
    assert_png(&out.join("spans-without-events.png"));

    // An empty batch loads (an empty report, exit 0 as `analyze` gives), and the window
    // says it holds no events.
    let batch = screenshot(&empty, &out.join("empty-batch.png"), &[], RUN_LIMIT);
    assert_eq!(batch.code, Some(0), "{}", batch.stderr);
    assert_png(&out.join("empty-batch.png"));

    // Nothing could be read at all: exit 1 with one sentence, as `analyze` does, after
    // saving the window that says why.
    let garbage = out.join("not-an-event-file.txt");
    std::fs::write(&garbage, "hello, this is not JSON\n").unwrap();
    let bad = screenshot(&garbage, &out.join("unreadable.png"), &[], RUN_LIMIT);
    assert_eq!(bad.code, Some(1), "{}", bad.stderr);
    assert_png(&out.join("unreadable.png"));
    let lines: Vec<&str> = bad.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", bad.stderr);
    assert!(
        lines[0].starts_with("eventlens: ") && lines[0].contains("not-an-event-file.txt"),
        "{}",
        lines[0]
    );

    eprintln!(
        "--screenshot: sample capture {:.2} s, spans without events {:.2} s, empty batch {:.2} s (PNGs in {})",
        sample.secs,
        spans.secs,
        batch.secs,
        out.display()
    );
    // Within the time a file with events takes (plus slack for a busy machine).
    let bound = sample.secs * 2.0 + 10.0;
    assert!(
        spans.secs < bound,
        "{:.2} s vs {:.2} s",
        spans.secs,
        sample.secs
    );
    assert!(
        batch.secs < bound,
        "{:.2} s vs {:.2} s",
        batch.secs,
        sample.secs
    );
}

#[test]
fn a_screenshot_that_cannot_finish_gives_up_and_says_what_it_waited_for() {
    let _x = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    if !xvfb_available() {
        return;
    }
    // A named pipe nobody writes to: opening it to read blocks forever.
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("never-written.fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let png = dir.path().join("never.png");
    let run = screenshot(
        &fifo,
        &png,
        &[("EVENTLENS_SCREENSHOT_TIMEOUT", "2")],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("gave up after 2 s waiting for")
            && run.stderr.contains("never-written.fifo to load"),
        "{}",
        run.stderr
    );
    assert!(!png.exists());
    eprintln!("gave up in {:.2} s: {}", run.secs, run.stderr.trim());
}

#[test]
fn a_missing_file_beside_a_readable_one_is_reported_not_fatal() {
    let _x = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    if !xvfb_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-capture.jsonl");
    let out = out_dir().join("missing-beside-readable.png");
    let run = screenshot_with(
        &[&fixture("sample-traces/capture.jsonl"), &missing],
        &[],
        &out,
        &[],
        RUN_LIMIT,
    );
    // As `analyze`: it loaded something, so 0, and the unreadable file is named.
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_png(&out);
    assert!(
        run.stderr.contains("no-such-capture.jsonl: No such file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("screenshot saved"), "{}", run.stderr);
}

#[test]
fn startup_options_that_do_not_apply_exit_2_with_one_sentence() {
    let _x = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    if !xvfb_available() {
        return;
    }
    let capture = fixture("sample-traces/capture.jsonl");
    for (args, says) in [
        (
            ["--select", "node:nope"],
            "eventlens: --select node:nope: there is no node named \"nope\" (the nodes are ",
        ),
        (
            ["--select", "finding:99"],
            "eventlens: --select finding:99: there are 15 findings (finding:0 to finding:14)",
        ),
        (
            ["--cursor", "99999"],
            "eventlens: --cursor 99999: the input spans ",
        ),
    ] {
        let out = out_dir().join(format!("bad-{}.png", args[1].replace(':', "-")));
        let run = screenshot_with(&[&capture], &args, &out, &[], RUN_LIMIT);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", run.stderr);
        assert!(lines[0].starts_with(says), "{args:?}: {}", lines[0]);
        // The window reporting it is still saved, to look at.
        assert_png(&out);
    }
}

#[test]
fn a_malformed_startup_option_is_a_usage_error_before_any_window() {
    // No window, so no Xvfb needed.
    for (args, says) in [
        (
            ["--select", "handler-b"],
            "eventlens: --select handler-b: expected node:NAME, edge:FROM->TO, event:ID or finding:N",
        ),
        (
            ["--cursor", "soon"],
            "eventlens: --cursor soon: expected seconds after the start, start, end or an RFC 3339 time",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
            .arg(fixture("sample-traces/capture.jsonl"))
            .args(args)
            .arg("--screenshot")
            .arg(out_dir().join("never-written.png"))
            .stdin(Stdio::null())
            .output()
            .expect("run eventlens");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim(), says, "{args:?}");
    }
}
