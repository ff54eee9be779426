//! Running a plan on the source runtime: pacing, retries with backoff, pause, resume and
//! stop, and the progress and summary the CLI and the app show.

use super::send::Sender;
use super::{Redrive, RedriveEvent};
use crate::live::Waker;
use crate::model::{EventIdx, Store};
use crate::time::Nanos;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What one event came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The id it was sent with (a fresh one with `--rewrite-ids`).
    pub id: String,
    /// Its id in the capture.
    pub original_id: String,
    pub source: String,
    /// Attempts made (0: never sent, e.g. stopped before its turn).
    pub attempts: u32,
    /// `None` when delivered, else why not.
    pub error: Option<String>,
}

/// Where a run is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub sent: usize,
    pub failed: usize,
    pub remaining: usize,
    pub paused: bool,
    pub finished: bool,
    /// The last failure's reason while retrying (e.g. "HTTP 500; retry 2 of 3").
    pub last_error: Option<String>,
    /// Paced by the replay cursor: the time (first seen) of the next event, which goes
    /// once the cursor reaches it.
    pub waiting_for: Option<crate::time::Nanos>,
}

/// What a finished run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The target, redacted.
    pub target: String,
    pub deliveries: Vec<Delivery>,
    /// Stopped before every event was sent.
    pub stopped: bool,
    /// The plan could not start (no plan, no sender): nothing was sent.
    pub error: Option<String>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn delivered(&self) -> usize {
        self.deliveries.iter().filter(|d| d.error.is_none()).count()
    }
    /// The events that were not delivered.
    pub fn undelivered(&self) -> impl Iterator<Item = &Delivery> {
        self.deliveries.iter().filter(|d| d.error.is_some())
    }
    pub fn is_success(&self) -> bool {
        self.error.is_none() && self.undelivered().next().is_none()
    }
    /// The report: counts, then every undelivered event with why.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(e) = &self.error {
            out.push_str(&format!("re-drive to {} failed: {e}\n", self.target));
            return out;
        }
        let failed = self.deliveries.len() - self.delivered();
        out.push_str(&format!(
            "re-drove {} events to {} in {:.2} s: {} delivered, {} not delivered{}\n",
            self.deliveries.len(),
            self.target,
            self.elapsed.as_secs_f64(),
            self.delivered(),
            failed,
            if self.stopped { " (stopped)" } else { "" }
        ));
        for d in self.undelivered() {
            let id = if d.id == d.original_id {
                d.id.clone()
            } else {
                format!("{} (sent as {})", d.original_id, d.id)
            };
            out.push_str(&format!(
                "  not delivered: {id} from {}: {} ({} attempt{})\n",
                d.source,
                d.error.as_deref().unwrap_or(""),
                d.attempts,
                if d.attempts == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    Run,
    Pause,
    Stop,
}

struct Shared {
    progress: Mutex<(Progress, Option<Summary>)>,
    done: Condvar,
    waker: Option<Waker>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Progress)) {
        if let Ok(mut g) = self.progress.lock() {
            f(&mut g.0);
        }
        if let Some(w) = &self.waker {
            w();
        }
    }
    fn finish(&self, summary: Summary) {
        if let Ok(mut g) = self.progress.lock() {
            g.0.finished = true;
            g.0.paused = false;
            g.0.remaining = 0;
            g.1 = Some(summary);
        }
        self.done.notify_all();
        if let Some(w) = &self.waker {
            w();
        }
    }
}

/// A running (or finished) re-drive.
pub struct RedriveRun {
    shared: Arc<Shared>,
    control: watch::Sender<Control>,
    /// The replay cursor, for [`super::Pacing::Replay`].
    clock: watch::Sender<Option<Nanos>>,
}

impl RedriveRun {
    /// Starts the plan on `rt`. `waker` is called on every change of progress.
    pub fn start(plan: Redrive, rt: &tokio::runtime::Handle, waker: Option<Waker>) -> RedriveRun {
        Self::spawn(rt, waker, plan.events.len(), async move { Ok(plan) })
    }

    /// Builds the plan from the store on the runner's task (reading payloads is I/O: not
    /// for the UI thread), then runs it.
    pub fn start_from_store(
        store: Arc<Store>,
        events: Vec<EventIdx>,
        target: super::Target,
        options: super::Options,
        rt: &tokio::runtime::Handle,
        waker: Option<Waker>,
    ) -> RedriveRun {
        let total = events.len();
        Self::spawn(rt, waker, total, async move {
            tokio::task::spawn_blocking(move || {
                Redrive::from_store(&store, &events, target, options)
            })
            .await
            .map_err(|e| format!("reading the events: {e}"))
        })
    }

    fn spawn(
        rt: &tokio::runtime::Handle,
        waker: Option<Waker>,
        total: usize,
        plan: impl std::future::Future<Output = Result<Redrive, String>> + Send + 'static,
    ) -> RedriveRun {
        let shared = Arc::new(Shared {
            progress: Mutex::new((
                Progress {
                    total,
                    remaining: total,
                    ..Default::default()
                },
                None,
            )),
            done: Condvar::new(),
            waker,
        });
        let (control, rx) = watch::channel(Control::Run);
        let (clock, clock_rx) = watch::channel(None);
        let s = shared.clone();
        rt.spawn(async move {
            let summary = match plan.await {
                Ok(plan) => run(plan, &s, rx, clock_rx).await,
                Err(e) => Summary {
                    error: Some(e),
                    ..Default::default()
                },
            };
            s.finish(summary);
        });
        RedriveRun {
            shared,
            control,
            clock,
        }
    }

    /// Where the replay cursor is: with [`super::Pacing::Replay`], each event goes once the
    /// cursor reaches the time it was first seen. The cursor moving back sends nothing again.
    pub fn set_clock(&self, t: Nanos) {
        self.clock.send_if_modified(|now| {
            let change = *now != Some(t);
            *now = Some(t);
            change
        });
    }

    pub fn progress(&self) -> Progress {
        self.shared
            .progress
            .lock()
            .map(|g| g.0.clone())
            .unwrap_or_default()
    }

    /// The summary, once finished.
    pub fn summary(&self) -> Option<Summary> {
        self.shared.progress.lock().ok().and_then(|g| g.1.clone())
    }

    pub fn is_finished(&self) -> bool {
        self.progress().finished
    }

    pub fn pause(&self) {
        self.set(Control::Pause);
    }
    pub fn resume(&self) {
        self.set(Control::Run);
    }
    /// Stops after the send in flight; what was not sent is reported as such.
    pub fn stop(&self) {
        self.set(Control::Stop);
    }

    fn set(&self, c: Control) {
        self.control.send_if_modified(|now| {
            // A stop is final.
            let change = *now != c && *now != Control::Stop;
            if change {
                *now = c;
            }
            change
        });
    }

    /// Blocks until the run is finished (not on a runtime thread) and returns its summary.
    pub fn wait(&self) -> Summary {
        let Ok(mut g) = self.shared.progress.lock() else {
            return Summary::default();
        };
        loop {
            if let Some(s) = &g.1 {
                return s.clone();
            }
            g = match self.shared.done.wait(g) {
                Ok(g) => g,
                Err(_) => return Summary::default(),
            };
        }
    }
}

/// Waits until `until`, or less if told to stop; pausing stops the clock, and the time
/// paused is added to `paused`. `false`: stopped.
async fn wait_until(
    until: Instant,
    paused: &mut Duration,
    rx: &mut watch::Receiver<Control>,
    shared: &Shared,
) -> bool {
    let mut until = until;
    loop {
        let c = *rx.borrow_and_update();
        match c {
            Control::Stop => return false,
            Control::Pause => {
                shared.update(|p| p.paused = true);
                let t0 = Instant::now();
                if rx.changed().await.is_err() {
                    return false;
                }
                let dt = t0.elapsed();
                *paused += dt;
                until += dt;
                shared.update(|p| p.paused = false);
            }
            Control::Run => {
                let now = Instant::now();
                if now >= until {
                    return true;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => return true,
                    changed = rx.changed() => if changed.is_err() { return false },
                }
            }
        }
    }
}

/// Waits until the replay cursor reaches `at`, or less if told to stop; pausing holds it
/// even when the cursor is past. `false`: stopped.
async fn wait_clock(
    at: Nanos,
    rx: &mut watch::Receiver<Control>,
    clock: &mut watch::Receiver<Option<Nanos>>,
    shared: &Shared,
) -> bool {
    shared.update(|p| p.waiting_for = Some(at));
    let mut shown_paused = false;
    let go = loop {
        let c = *rx.borrow_and_update();
        let now = *clock.borrow_and_update();
        match c {
            Control::Stop => break false,
            Control::Run if now.is_some_and(|t| t >= at) => break true,
            _ => {}
        }
        if shown_paused != (c == Control::Pause) {
            shown_paused = c == Control::Pause;
            shared.update(|p| p.paused = shown_paused);
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { break false },
            changed = clock.changed() => if changed.is_err() { break false },
        }
    };
    shared.update(|p| {
        p.waiting_for = None;
        p.paused = false;
    });
    go
}

async fn run(
    plan: Redrive,
    shared: &Shared,
    mut rx: watch::Receiver<Control>,
    mut clock: watch::Receiver<Option<Nanos>>,
) -> Summary {
    let started = Instant::now();
    let target = plan.target.to_string();
    let mut sender = match Sender::new(&plan.target) {
        Ok(s) => s,
        Err(e) => {
            return Summary {
                target,
                error: Some(e),
                ..Default::default()
            };
        }
    };
    let schedule = plan.schedule();
    let opts = plan.options.clone();
    let mut deliveries = Vec::with_capacity(plan.events.len());
    let mut paused = Duration::ZERO;
    let mut stopped = false;
    // The schedule runs from the end of the first send: connecting to the target (a TCP or
    // TLS handshake, a broker login) must not shorten the first gap.
    let mut anchor: Option<Instant> = None;
    for (event, due) in plan.events.iter().zip(&schedule) {
        let out: RedriveEvent = event.prepared(opts.rewrite_ids);
        let mut d = Delivery {
            id: out.id.clone(),
            original_id: event.id.clone(),
            source: event.source.clone(),
            attempts: 0,
            error: None,
        };
        let go = if stopped {
            false
        } else if opts.pacing == super::Pacing::Replay {
            wait_clock(event.at, &mut rx, &mut clock, shared).await
        } else {
            let deadline = anchor.map_or_else(Instant::now, |a| a + paused + *due);
            wait_until(deadline, &mut paused, &mut rx, shared).await
        };
        if !go {
            stopped = true;
            d.error = Some("not sent: stopped".into());
            deliveries.push(d);
            continue;
        }
        let mut backoff = crate::source::Backoff::new(opts.backoff, Duration::from_secs(10));
        loop {
            d.attempts += 1;
            match sender.send(&plan.target, &out, opts.mode).await {
                Ok(()) => {
                    d.error = None;
                    break;
                }
                Err(e) => {
                    tracing::debug!("{} to {target}: {}", out.id, e.reason);
                    d.error = Some(e.reason.clone());
                    if !e.retry || d.attempts > opts.retries {
                        break;
                    }
                    let wait = backoff.next_delay();
                    shared.update(|p| {
                        p.last_error = Some(format!(
                            "{}: {}; retry {} of {}",
                            out.id, e.reason, d.attempts, opts.retries
                        ))
                    });
                    let until = Instant::now() + wait;
                    if !wait_until(until, &mut paused, &mut rx, shared).await {
                        stopped = true;
                        break;
                    }
                }
            }
        }
        if anchor.is_none() {
            anchor = Some(Instant::now());
            paused = Duration::ZERO;
        }
        let ok = d.error.is_none();
        shared.update(|p| {
            if ok {
                p.sent += 1;
            } else {
                p.failed += 1;
            }
            p.remaining = p.remaining.saturating_sub(1);
        });
        deliveries.push(d);
    }
    Summary {
        target,
        deliveries,
        stopped,
        error: None,
        elapsed: started.elapsed(),
    }
}
