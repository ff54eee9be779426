//! `--screenshot`: once the loaded state is final (whatever it is, empty included), let the
//! layout settle for a few frames, capture one and close the window. Past a deadline it
//! gives up and closes, saying what it was still waiting for. The command line reads the
//! outcome from the shared slot after the window closed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames drawn with the final state before the capture (the graph fits, panels settle).
const SETTLE_FRAMES: u32 = 4;

/// How long a live source (the demo) runs before it is captured.
pub const LIVE_WARMUP: Duration = Duration::from_secs(6);

/// What a `--screenshot` run hands back to the command line.
#[derive(Debug, Default)]
pub struct ScreenshotOutcome {
    /// The captured frame.
    pub image: Option<Arc<egui::ColorImage>>,
    /// What the run waits for now, in words ("x.json to load (40% read)").
    pub waiting_for: String,
    /// Set when the run gave up at the deadline: what it was still waiting for.
    pub gave_up: Option<String>,
    /// Set when nothing could be read at all: why, in one sentence (as `analyze` says it).
    /// The screenshot still shows the window, which says why too.
    pub nothing_read: Option<String>,
    /// Startup options that did not apply to the input (`--select node:nope`), one
    /// sentence each: the run exits 2 after saving the screenshot, which shows them too.
    pub bad_options: Vec<String>,
    /// Files that could not be read at all, beside ones that could (one sentence each).
    pub load_failures: Vec<String>,
}

/// Asks the app for a screenshot.
#[derive(Clone, Debug)]
pub struct ScreenshotRequest {
    pub slot: Arc<Mutex<ScreenshotOutcome>>,
    /// Give up when the screenshot is not taken this long after the app started.
    pub timeout: Duration,
}

/// The app's side of a screenshot run.
pub(super) struct ScreenshotPlan {
    request: ScreenshotRequest,
    ready_frames: u32,
    requested: bool,
    started: Instant,
}

impl ScreenshotPlan {
    pub fn new(request: ScreenshotRequest) -> ScreenshotPlan {
        ScreenshotPlan {
            request,
            ready_frames: 0,
            requested: false,
            started: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records that nothing could be read, and why.
    pub fn nothing_read(&self, why: String) {
        if let Ok(mut out) = self.request.slot.lock() {
            out.nothing_read = Some(why);
        }
    }

    /// Records a startup option that did not apply to the input.
    pub fn bad_option(&self, why: String) {
        if let Ok(mut out) = self.request.slot.lock() {
            out.bad_options.push(why);
        }
    }

    /// Records the files of the load that could not be read.
    pub fn load_failures(&self, failures: &[String]) {
        if let Ok(mut out) = self.request.slot.lock() {
            out.load_failures = failures.to_vec();
        }
    }

    /// One frame. `waiting_for` is what the app still waits for before its state is final
    /// (a load, the live warm-up), `None` once it is.
    pub fn step(&mut self, ctx: &egui::Context, waiting_for: Option<String>) {
        ctx.request_repaint();
        let close = || ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        let Ok(mut out) = self.request.slot.lock() else {
            close();
            return;
        };
        if out.image.is_some() || out.gave_up.is_some() {
            close();
            return;
        }
        let status = match waiting_for {
            Some(w) => {
                self.ready_frames = 0;
                w
            }
            None => {
                self.ready_frames += 1;
                if self.requested {
                    "the window system to return the captured frame".to_string()
                } else {
                    "the window to draw the loaded state".to_string()
                }
            }
        };
        if self.started.elapsed() > self.request.timeout {
            out.gave_up = Some(status);
            close();
            return;
        }
        out.waiting_for = status;
        drop(out);
        if self.ready_frames >= SETTLE_FRAMES && !self.requested {
            self.requested = true;
            let slot = self.request.slot.clone();
            let ctx2 = ctx.clone();
            ctx.request_screenshot(move |img| {
                if let Ok(mut s) = slot.lock() {
                    s.image = Some(img);
                }
                ctx2.request_repaint();
            });
        }
    }
}
