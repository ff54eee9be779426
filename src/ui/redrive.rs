//! The Re-drive dialog (File > Re-drive events…, and the inspector's Re-drive button): a
//! target URL, which events (the selected one, the filter's matches, a time window), pacing
//! and id handling; then a confirmation naming the target (credentials redacted) and the
//! event count; then progress with pause, resume and stop; then what was and was not
//! delivered. The sending runs in [`crate::redrive`] on the source runtime; the dialog
//! only shows its progress.

use super::{Command, Selection, ViewCtx, fmt_count};
use crate::model::EventIdx;
use crate::redrive::{Mode, Options, Pacing, RedriveRun, Summary, Target};
use egui::RichText;

/// Which events to re-drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scope {
    /// The events selected in the table (Ctrl+click, Shift+click), or the one selected in
    /// the graph or inspector.
    #[default]
    Selected,
    /// Every event the filter keeps (all events without a filter).
    Filter,
    /// The events seen in a time window (seconds on the timeline).
    Window,
}

/// How to pace them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PacingChoice {
    #[default]
    Original,
    /// The replay panel's cursor: its play, pause, step and speed.
    Replay,
    Rate,
    Asap,
}

/// What the app is asked to start: the events, where, how.
#[derive(Clone, Debug, PartialEq)]
pub struct RedriveRequest {
    pub events: Vec<EventIdx>,
    pub target: Target,
    pub options: Options,
}

enum Step {
    Edit,
    Confirm(Box<RedriveRequest>),
    /// The run and its pacing.
    Running(RedriveRun, Pacing),
    Done(Summary),
}

/// The dialog's state (never persisted: a target URL may hold credentials).
pub struct RedriveDialog {
    pub open: bool,
    pub url: String,
    /// Credentials for a URL that names none (the password field is masked).
    pub user: String,
    pub password: String,
    pub scope: Scope,
    pub pacing: PacingChoice,
    pub speed: f64,
    pub rate: f64,
    pub mode: Mode,
    pub rewrite_ids: bool,
    pub retries: u32,
    /// The window, in seconds on the timeline.
    pub window: (f64, f64),
    error: Option<String>,
    step: Step,
}

impl Default for RedriveDialog {
    fn default() -> Self {
        RedriveDialog {
            open: false,
            url: String::new(),
            user: String::new(),
            password: String::new(),
            scope: Scope::default(),
            pacing: PacingChoice::default(),
            speed: 1.0,
            rate: 10.0,
            mode: Mode::Binary,
            rewrite_ids: false,
            retries: 3,
            window: (0.0, 0.0),
            error: None,
            step: Step::Edit,
        }
    }
}

/// The URL with the user and password fields as its credentials, unless it names its own.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let url = url.trim();
    let (user, password) = (user.trim(), password);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if authority.contains('@') || (user.is_empty() && password.is_empty()) {
        return url.to_string();
    }
    let enc = crate::source::url::percent_encode;
    let auth = if password.is_empty() {
        enc(user)
    } else {
        format!("{}:{}", enc(user), enc(password))
    };
    format!("{scheme}://{auth}@{rest}")
}

impl RedriveDialog {
    /// Opens it (on its first page unless a run is in progress), the scope the selected
    /// event when there is one, else the filter's matches; `window` in seconds on the
    /// timeline (the loop range, else from the start to the cursor).
    pub fn open_with(&mut self, event_selected: bool, window: (f64, f64)) {
        self.open = true;
        if matches!(self.step, Step::Running(..)) {
            return;
        }
        self.step = Step::Edit;
        self.error = None;
        self.scope = if event_selected {
            Scope::Selected
        } else {
            Scope::Filter
        };
        self.window = window;
    }

    /// The run in progress or finished (tests).
    pub fn summary(&self) -> Option<&Summary> {
        match &self.step {
            Step::Done(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.step, Step::Running(..))
    }

    /// The app started the run it was asked for.
    pub fn started(&mut self, run: RedriveRun, pacing: Pacing) {
        self.step = Step::Running(run, pacing);
    }

    /// The run in progress when the replay cursor paces it: the app gives it the cursor
    /// every frame ([`RedriveRun::set_clock`]).
    pub fn replay_paced(&self) -> Option<&RedriveRun> {
        match &self.step {
            Step::Running(run, Pacing::Replay) => Some(run),
            _ => None,
        }
    }

    fn options(&self) -> Options {
        Options {
            pacing: match self.pacing {
                PacingChoice::Original => Pacing::Original { speed: self.speed },
                PacingChoice::Replay => Pacing::Replay,
                PacingChoice::Rate => Pacing::Rate(self.rate),
                PacingChoice::Asap => Pacing::Asap,
            },
            mode: self.mode,
            rewrite_ids: self.rewrite_ids,
            retries: self.retries,
            ..Options::default()
        }
    }

    /// The events of the scope.
    fn events(&self, cx: &ViewCtx<'_>) -> Result<Vec<EventIdx>, String> {
        let store = cx.store;
        let events = match self.scope {
            Scope::Selected => match (cx.marked, cx.selection) {
                ([], Selection::Event(e)) => vec![e],
                ([], _) => {
                    return Err("no event is selected: select one in the events table".into());
                }
                (marked, _) => crate::redrive::events_of(
                    store,
                    marked
                        .iter()
                        .flat_map(|&e| store.observations_of(e).iter().copied()),
                ),
            },
            Scope::Filter => match &cx.derived.filter {
                Some(f) => crate::redrive::events_of(store, f.observations.iter().copied()),
                None => crate::redrive::events_of(store, 0..store.observations.len() as u32),
            },
            Scope::Window => {
                let ns = |s: f64| cx.origin + (s * 1e9) as i64;
                let (a, b) = (ns(self.window.0), ns(self.window.1));
                let from = store.observations.partition_point(|o| o.time < a);
                let to = store.observations.partition_point(|o| o.time <= b);
                crate::redrive::events_of(store, from as u32..to as u32)
            }
        };
        if events.is_empty() {
            return Err("no events in this scope".into());
        }
        Ok(events)
    }

    pub fn show(&mut self, ctx: &egui::Context, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
        let mut open = self.open;
        egui::Window::new("Re-drive events")
            .open(&mut open)
            .collapsible(false)
            .resizable(true)
            .default_width(560.0)
            .show(ctx, |ui| match self.step {
                Step::Edit => self.edit(ui, cx),
                Step::Confirm(_) => self.confirm(ui, cx, cmds),
                Step::Running(..) => self.running(ui, cx, cmds),
                Step::Done(_) => self.done(ui, cx),
            });
        // Closing the window does not stop a run: reopening shows its progress.
        self.open = open;
        if let Step::Running(run, _) = &self.step {
            if let Some(s) = run.summary() {
                self.step = Step::Done(s);
            } else {
                ctx.request_repaint_after(std::time::Duration::from_millis(100));
            }
        }
    }

    fn edit(&mut self, ui: &mut egui::Ui, cx: &ViewCtx<'_>) {
        ui.label(
            RichText::new(
                "Send captured events again, as CloudEvents: http(s)://host/path, \
                 nats://host:port/SUBJECT, mqtt://host:port/TOPIC, \
                 amqp://host:port/vhost?exchange=X&key=KEY, redis://host:port/stream/KEY. \
                 Leave the subject, topic, key or stream key out to send each event to the \
                 channel it was captured on.",
            )
            .color(cx.theme.text_weak),
        );
        egui::Grid::new("redrive-fields")
            .num_columns(2)
            .show(ui, |ui| {
                let label = ui.label("Target URL");
                ui.add(
                    egui::TextEdit::singleline(&mut self.url)
                        .desired_width(380.0)
                        .hint_text("http://127.0.0.1:8080/events"),
                )
                .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("User");
                ui.add(egui::TextEdit::singleline(&mut self.user).desired_width(200.0))
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Password");
                ui.add(
                    egui::TextEdit::singleline(&mut self.password)
                        .password(true)
                        .desired_width(200.0),
                )
                .labelled_by(label.id);
                ui.end_row();
                ui.label("Events");
                ui.vertical(|ui| {
                    let selected = cx
                        .marked
                        .len()
                        .max(usize::from(matches!(cx.selection, Selection::Event(_))));
                    ui.add_enabled_ui(selected > 0, |ui| {
                        let text = if selected > 1 {
                            format!("The {} selected events", fmt_count(selected as u64))
                        } else {
                            "The selected event".to_string()
                        };
                        ui.radio_value(&mut self.scope, Scope::Selected, text)
                            .on_hover_text(
                                "Ctrl+click rows of the events table to select several, \
                                 Shift+click to select a range",
                            );
                    });
                    let filter = if cx.filter_text.trim().is_empty() {
                        "Every event (no filter)".to_string()
                    } else {
                        format!("The filter's matches ({})", cx.filter_text.trim())
                    };
                    ui.radio_value(&mut self.scope, Scope::Filter, filter);
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut self.scope, Scope::Window, "Seen between");
                        ui.add(
                            egui::DragValue::new(&mut self.window.0)
                                .suffix(" s")
                                .speed(0.1),
                        );
                        ui.label("and");
                        ui.add(
                            egui::DragValue::new(&mut self.window.1)
                                .suffix(" s")
                                .speed(0.1),
                        );
                    });
                });
                ui.end_row();
                ui.label("Pacing");
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        ui.radio_value(
                            &mut self.pacing,
                            PacingChoice::Original,
                            "Original timing ×",
                        );
                        ui.add(
                            egui::DragValue::new(&mut self.speed)
                                .range(0.01..=1000.0)
                                .speed(0.1),
                        );
                    });
                    ui.radio_value(
                        &mut self.pacing,
                        PacingChoice::Replay,
                        "With the replay (its play, pause, step and speed)",
                    )
                    .on_hover_text(
                        "Each event goes when the replay cursor reaches the time it was first \
                         seen. The replay starts playing at its first event; pause or step the \
                         replay to hold or send one by one.",
                    );
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut self.pacing, PacingChoice::Rate, "Fixed rate");
                        ui.add(
                            egui::DragValue::new(&mut self.rate)
                                .range(0.01..=100_000.0)
                                .suffix(" /s"),
                        );
                    });
                    ui.radio_value(&mut self.pacing, PacingChoice::Asap, "As fast as possible");
                });
                ui.end_row();
                ui.label("Mode");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut self.mode, Mode::Binary, "Binary");
                    ui.radio_value(&mut self.mode, Mode::Structured, "Structured");
                });
                ui.end_row();
                ui.label("Ids");
                ui.checkbox(
                    &mut self.rewrite_ids,
                    "Fresh ids (causationid = the original id)",
                );
                ui.end_row();
                ui.label("Retries");
                ui.add(egui::DragValue::new(&mut self.retries).range(0..=20));
                ui.end_row();
            });
        if let Some(e) = &self.error {
            ui.label(RichText::new(e).color(cx.theme.error));
        }
        if ui.button("Next…").clicked() {
            let target = Target::parse(&with_credentials(&self.url, &self.user, &self.password));
            match (target, self.events(cx)) {
                (Ok(target), Ok(events)) => {
                    self.error = None;
                    self.step = Step::Confirm(Box::new(RedriveRequest {
                        events,
                        target,
                        options: self.options(),
                    }));
                }
                (Err(e), _) | (_, Err(e)) => self.error = Some(e),
            }
        }
    }

    fn confirm(&mut self, ui: &mut egui::Ui, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
        let Step::Confirm(req) = &self.step else {
            return;
        };
        let n = req.events.len();
        ui.label(
            RichText::new(format!(
                "Send {} event{} to {}?",
                fmt_count(n as u64),
                if n == 1 { "" } else { "s" },
                req.target
            ))
            .strong(),
        );
        let pacing = match req.options.pacing {
            Pacing::Original { speed } => format!("original timing ×{speed}"),
            Pacing::Rate(r) => format!("{r} per second"),
            Pacing::Asap => "as fast as possible".into(),
            Pacing::Replay => "paced by the replay".into(),
        };
        ui.label(
            RichText::new(format!(
                "{} mode, {pacing}, {}, up to {} retries",
                req.options.mode.as_str(),
                if req.options.rewrite_ids {
                    "fresh ids"
                } else {
                    "original ids"
                },
                req.options.retries
            ))
            .color(cx.theme.text_weak),
        );
        if req.target.uses_event_channel() {
            ui.label(
                RichText::new("Each event goes to the channel it was captured on.")
                    .color(cx.theme.text_weak),
            );
        }
        let mut back = false;
        ui.horizontal(|ui| {
            if ui.button("Send").clicked() {
                cmds.push(Command::StartRedrive(req.clone()));
            }
            back = ui.button("Back").clicked();
        });
        if back {
            self.step = Step::Edit;
        }
    }

    fn running(&mut self, ui: &mut egui::Ui, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
        let Step::Running(run, pacing) = &self.step else {
            return;
        };
        let by_replay = *pacing == Pacing::Replay;
        let p = run.progress();
        let done = p.sent + p.failed;
        ui.label(format!(
            "Sent {} · failed {} · remaining {}",
            fmt_count(p.sent as u64),
            fmt_count(p.failed as u64),
            fmt_count(p.remaining as u64)
        ));
        // The buttons come before anything whose height changes as the run goes (an error,
        // what it waits for): they never move under the pointer.
        ui.horizontal(|ui| {
            if by_replay {
                // One clock: these are the replay panel's own play and pause.
                if cx.time_ctl.is_playing() {
                    if ui.button("Pause").clicked() {
                        cmds.push(Command::Time(crate::replay::TimeCommand::Pause));
                    }
                } else if ui.button("Resume").clicked() {
                    cmds.push(Command::Time(crate::replay::TimeCommand::Play));
                }
            } else if p.paused {
                if ui.button("Resume").clicked() {
                    run.resume();
                }
            } else if ui.button("Pause").clicked() {
                run.pause();
            }
            if ui.button("Stop").clicked() {
                run.stop();
            }
        });
        let frac = if p.total == 0 {
            1.0
        } else {
            done as f32 / p.total as f32
        };
        ui.add(
            egui::ProgressBar::new(frac)
                .show_percentage()
                .desired_width(400.0),
        );
        if let Some(e) = &p.last_error {
            ui.label(RichText::new(e).color(cx.theme.warn));
        }
        if let Some(at) = p.waiting_for {
            ui.label(
                RichText::new(format!(
                    "The next event goes when the replay reaches {:.3} s",
                    cx.secs(at)
                ))
                .color(cx.theme.text_weak),
            );
        }
    }

    fn done(&mut self, ui: &mut egui::Ui, cx: &ViewCtx<'_>) {
        let Step::Done(s) = &self.step else {
            return;
        };
        if let Some(e) = &s.error {
            ui.label(RichText::new(format!("Re-drive failed: {e}")).color(cx.theme.error));
        } else {
            let failed = s.deliveries.len() - s.delivered();
            ui.label(
                RichText::new(format!(
                    "Delivered {} of {} to {}{}",
                    s.delivered(),
                    s.deliveries.len(),
                    s.target,
                    if s.stopped { " (stopped)" } else { "" }
                ))
                .strong(),
            );
            if failed > 0 {
                ui.label(RichText::new(format!("{failed} not delivered:")).color(cx.theme.error));
                egui::ScrollArea::vertical()
                    .max_height(200.0)
                    .show(ui, |ui| {
                        for d in s.undelivered() {
                            ui.label(format!(
                                "{}: {}",
                                d.original_id,
                                d.error.as_deref().unwrap_or("")
                            ));
                        }
                    });
            }
        }
        let mut again = false;
        ui.horizontal(|ui| {
            again = ui.button("New re-drive").clicked();
        });
        if again {
            self.step = Step::Edit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_credentials;

    #[test]
    fn the_credential_fields_go_into_a_url_that_names_none() {
        assert_eq!(
            with_credentials("http://h:1/x", "bob", "p@ss"),
            "http://bob:p%40ss@h:1/x"
        );
        assert_eq!(
            with_credentials("http://a:b@h/x", "bob", "c"),
            "http://a:b@h/x"
        );
        assert_eq!(with_credentials("nats://h:4222", "", ""), "nats://h:4222");
    }
}
