//! The app: state, the frame loop (drain background work, advance the replay, draw the
//! panels, apply their commands) and persistence.

use super::derived::Derived;
use super::empty::EmptyState;
use super::findings::{self, FindingsView};
use super::graph::GraphView;
use super::inputs::inputs_panel;
use super::inspector::InspectorView;
use super::latency::{LatencyFigures, LatencyView};
use super::menu::{label_of, menu_bar};
use super::open_dialog::{DialogAction, OpenDialog};
use super::overlays::{loading_overlay, notices_overlay};
use super::screenshot::{LIVE_WARMUP, ScreenshotPlan, ScreenshotRequest};
pub use super::settings::Settings;
use super::startup::{StartCursor, StartSelect};
use super::table::TableView;
use super::theme::{self, Theme, ThemeChoice};
use super::{BottomTab, Command, Selection, ViewCtx, fmt_count};
use crate::analysis::Finding;
use crate::live::loader::Loading;
use crate::live::worker::{LiveWorker, Snapshot, WorkerStats};
use crate::live::{LiveFeed, LiveInput, Waker};
use crate::model::{EventIdx, Store};
use crate::replay::{PlayState, TimeCommand, TimeControl};
use crate::time::Nanos;
use crossbeam_channel::Receiver;
use egui::Key;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const MAX_RECENT: usize = 10;
const STORAGE_KEY: &str = "eventlens.settings";

/// How the app starts (command line).
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    pub files: Vec<PathBuf>,
    /// Live broker sources to watch (instead of files).
    pub sources: Vec<crate::source::BrokerUrl>,
    /// Follow `files` as they grow (`--follow`), as a live source, instead of loading them.
    pub follow: bool,
    /// Open the Connect dialog at start.
    pub connect: bool,
    /// Start the built-in demo when no file is given.
    pub demo: bool,
    /// Where to put the cursor once loaded: seconds after the start, `start`, `end`, or an
    /// RFC 3339 time.
    pub cursor: Option<String>,
    /// What to select once loaded: `node:NAME`, `edge:FROM->TO`, `event:ID`, `finding:N`.
    pub select: Option<String>,
    pub filter: Option<String>,
    pub tab: Option<BottomTab>,
    pub theme: Option<ThemeChoice>,
    pub play: bool,
    /// Take a screenshot once the input is loaded (whatever it holds), then close.
    pub screenshot: Option<ScreenshotRequest>,
    /// The retention budget of live sources (`--max-events`; 0 keeps all), instead of the
    /// one in the settings.
    pub max_events: Option<u64>,
}

/// A live source: its feed (status and counters) and the worker that owns the live store
/// and publishes the snapshots the UI shows.
struct Live {
    feed: LiveFeed,
    worker: LiveWorker,
    /// The counters of the snapshot shown.
    stats: Option<WorkerStats>,
}

/// The eventlens desktop app.
pub struct EventLensApp {
    settings: Settings,
    time: TimeControl,
    theme: Theme,
    theme_applied: Option<ThemeChoice>,
    /// The data shown: a loaded file's store, or the live worker's latest snapshot.
    store: Arc<Store>,
    generation: u64,
    source_label: String,
    live: Option<Live>,
    loading: Option<Loading>,
    load_failures: Vec<String>,
    /// The system file dialog's answer: `None` when it could not be shown at all.
    dialog: Option<Receiver<Option<Vec<PathBuf>>>>,
    /// The in-app file dialog, while open.
    open_dialog: Option<OpenDialog>,
    connect: super::connect::ConnectDialog,
    record: super::record::RecordDialog,
    export: super::export_dialog::ExportDialog,
    /// The export being written: where it went, or why not.
    export_job: Option<Receiver<Result<String, String>>>,
    /// The system save dialog's answer for the export path.
    export_browse: Option<Receiver<Option<PathBuf>>>,
    redrive: super::redrive::RedriveDialog,
    derived: Derived,
    /// `analyze`'s findings, exactly (kinds, order, indexes).
    findings: Arc<Vec<Finding>>,
    findings_view: FindingsView,
    /// Startup options that did not apply to the input (one sentence each), shown over the
    /// graph until dismissed.
    notices: Vec<String>,
    /// The thresholds of the analysis: the same `eventlens.toml` as `analyze` reads.
    analysis_config: crate::analysis::AnalysisConfig,
    selection: Selection,
    /// The events selected in the table, sorted (see [`Command::Mark`]).
    marked: Vec<EventIdx>,
    selected_finding: Option<usize>,
    graph: GraphView,
    table: TableView,
    inspector: InspectorView,
    latency: LatencyView,
    timeline: super::timeline::TimelineView,
    pending: StartOptions,
    screenshot: Option<ScreenshotPlan>,
    ctx: egui::Context,
}

fn waker_for(ctx: &egui::Context) -> Waker {
    let ctx = ctx.clone();
    Arc::new(move || ctx.request_repaint())
}

impl EventLensApp {
    /// The app as eframe creates it: settings from storage, then the start options.
    pub fn new(cc: &eframe::CreationContext<'_>, opts: StartOptions) -> Self {
        // A screenshot shows the defaults plus the command line, never a saved layout.
        let settings: Settings = cc
            .storage
            .filter(|_| opts.screenshot.is_none())
            .and_then(|s| eframe::get_value(s, STORAGE_KEY))
            .unwrap_or_default();
        Self::with_settings(&cc.egui_ctx, settings, opts)
    }

    /// The app with given settings (tests, benchmarks).
    pub fn with_settings(
        ctx: &egui::Context,
        mut settings: Settings,
        mut opts: StartOptions,
    ) -> Self {
        if let Some(t) = opts.theme {
            settings.theme = t;
        }
        if let Some(t) = opts.tab {
            settings.bottom_tab = t;
        }
        if let Some(f) = opts.filter.take() {
            settings.filter = f;
        }
        // Older versions stored paths as typed, relative to a working directory nobody
        // remembers: such an entry cannot be reopened reliably.
        settings.recent.retain(|p| p.is_absolute());
        let mut time = settings.time.clone();
        time.state = PlayState::Paused;
        let theme = Theme::new(settings.theme);
        let screenshot = opts.screenshot.take().map(ScreenshotPlan::new);
        let mut app = EventLensApp {
            settings,
            time,
            theme,
            theme_applied: None,
            store: Arc::new(Store::new()),
            generation: 0,
            source_label: String::new(),
            live: None,
            loading: None,
            load_failures: Vec::new(),
            dialog: None,
            open_dialog: None,
            connect: Default::default(),
            record: Default::default(),
            export: Default::default(),
            export_job: None,
            export_browse: None,
            redrive: Default::default(),
            derived: Derived::new(Some(waker_for(ctx))),
            findings: Arc::new(Vec::new()),
            findings_view: FindingsView::default(),
            notices: Vec::new(),
            analysis_config: crate::analysis::AnalysisConfig::default(),
            selection: Selection::None,
            marked: Vec::new(),
            selected_finding: None,
            graph: GraphView::default(),
            table: TableView::default(),
            inspector: InspectorView::default(),
            latency: LatencyView::default(),
            timeline: Default::default(),
            pending: StartOptions::default(),
            screenshot,
            ctx: ctx.clone(),
        };
        let files = std::mem::take(&mut opts.files);
        let sources = std::mem::take(&mut opts.sources);
        let demo = opts.demo;
        let follow = opts.follow;
        app.connect.open = opts.connect;
        app.pending = opts;
        let piped = files.iter().any(|f| crate::ingest::is_stdin(f));
        if (follow && !files.is_empty()) || (piped && files.len() > 1) {
            // With `-` beside files, the pipe is live beside them (merged), never read to
            // its end before the files are shown.
            app.start_follow(files);
        } else if files.len() == 1 && crate::ingest::is_stdin(&files[0]) {
            // A pipe is live: the graph grows as lines arrive.
            let feed = crate::live::follow::spawn_reader("standard input", std::io::stdin());
            app.start_live(feed, "standard input", "standard input".into());
        } else if !files.is_empty() {
            app.open(files);
        } else if !sources.is_empty() {
            app.start_brokers(&sources);
        } else if demo {
            app.start_demo();
        }
        app
    }

    /// An app showing an already loaded store (benchmarks, tests).
    pub fn from_store(ctx: &egui::Context, store: Store, label: &str, opts: StartOptions) -> Self {
        let mut app = Self::with_settings(
            ctx,
            Settings::default(),
            StartOptions {
                files: vec![],
                demo: false,
                ..opts
            },
        );
        app.install(Arc::new(store), label.to_string(), None);
        app
    }

    /// An app showing a live feed through its worker (benchmarks, tests).
    pub fn from_feed(ctx: &egui::Context, feed: LiveFeed, name: &str, opts: StartOptions) -> Self {
        let mut app = Self::with_settings(
            ctx,
            Settings::default(),
            StartOptions {
                files: vec![],
                demo: false,
                ..opts
            },
        );
        app.start_live(feed, name, format!("live: {name}"));
        app
    }

    // ---- accessors for tests and the benchmark ----

    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn selection(&self) -> Selection {
        self.selection
    }
    pub fn selected_finding(&self) -> Option<usize> {
        self.selected_finding
    }
    /// `analyze`'s findings, in its order.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
    /// What the Latency tab shows for the selection (once the tab was drawn).
    pub fn latency_figures(&self) -> Option<&LatencyFigures> {
        self.latency.figures()
    }
    /// Startup options that did not apply to the input, one sentence each.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }
    /// The recent files, most recent first (absolute paths).
    pub fn recent_files(&self) -> &[PathBuf] {
        &self.settings.recent
    }
    /// The folder the in-app Open dialog lists, while it is open.
    pub fn open_dialog_dir(&self) -> Option<&std::path::Path> {
        self.open_dialog.as_ref().map(|d| d.dir())
    }
    pub fn time_control(&self) -> &TimeControl {
        &self.time
    }
    pub fn cursor(&self) -> Option<Nanos> {
        self.time.time_in(&*self.store)
    }
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }
    /// Whether call edges are drawn (the Flow toolbar's "calls" toggle).
    pub fn shows_calls(&self) -> bool {
        self.settings.show_calls
    }
    /// Edges the flow graph drew in the last frame.
    pub fn drawn_edges(&self) -> usize {
        self.graph.drawn_edges
    }
    pub fn load_failures(&self) -> &[String] {
        &self.load_failures
    }
    /// Observations the events table lists at the cursor (filtered; while a filter is
    /// being applied, by the previous result: see [`Self::is_filtering`]).
    pub fn table_rows(&self) -> usize {
        let n = self
            .cursor()
            .map_or(0, |t| self.store.observations_until(t));
        match &self.derived.filter {
            Some(f) => f.observations.partition_point(|&i| (i as usize) < n),
            None => n,
        }
    }
    /// Whether the filter is being applied (on a background thread) to the data shown.
    pub fn is_filtering(&self) -> bool {
        self.derived.is_filtering()
    }
    /// Blocks until the filter as set now is applied to the data shown.
    pub fn wait_until_filtered(&mut self) {
        self.derived.refresh(
            &self.store,
            self.generation,
            &self.settings.filter,
            &self.findings,
        );
        self.derived.wait_for_filter(&self.store);
    }
    /// The Re-drive dialog's result, once a run finished.
    pub fn redrive_summary(&self) -> Option<&crate::redrive::Summary> {
        self.redrive.summary()
    }
    /// Whether a re-drive is sending.
    pub fn is_redriving(&self) -> bool {
        self.redrive.is_running()
    }
    /// The live worker's counters as of the snapshot shown (live sources only).
    pub fn live_stats(&self) -> Option<WorkerStats> {
        self.live.as_ref().and_then(|l| l.stats)
    }
    pub fn filter_text(&self) -> &str {
        &self.settings.filter
    }
    /// Applies a command as if a panel had sent it.
    pub fn command(&mut self, cmd: Command) {
        self.apply(cmd);
    }
    /// Blocks until a file load started earlier is finished and shown, its filter applied.
    pub fn wait_until_loaded(&mut self) {
        if let Some(l) = self.loading.take()
            && let Some(done) = l.wait()
        {
            self.finish_load(done);
        }
        self.wait_until_filtered();
    }

    // ---- sources ----

    fn open(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        if let Some(l) = &self.loading {
            l.cancel();
        }
        self.loading = Some(Loading::start(paths, Some(waker_for(&self.ctx))));
    }

    fn finish_load(&mut self, done: crate::live::loader::Loaded) {
        self.load_failures = done.failures;
        if let Some(plan) = &self.screenshot {
            plan.load_failures(&self.load_failures);
        }
        // The title names the files that were read (the Inputs tab says why others were not).
        let read: Vec<PathBuf> = done
            .paths
            .iter()
            .filter(|p| {
                let shown = crate::ingest::input_name(p);
                done.store.inputs.iter().any(|i| i.path == shown)
            })
            .cloned()
            .collect();
        let label = label_of(if read.is_empty() { &done.paths } else { &read });
        // As `analyze` decides: nothing could be read when no input loaded (an empty
        // batch `[]` loads: it is an empty report).
        if done.loaded == 0 {
            let why = if self.load_failures.is_empty() {
                let names: Vec<String> =
                    done.paths.iter().map(|p| p.display().to_string()).collect();
                format!("no events in {}", names.join(", "))
            } else {
                self.load_failures.join("; ")
            };
            if let Some(plan) = &self.screenshot {
                plan.nothing_read(why.clone());
            }
            self.settings.bottom_tab = BottomTab::Inputs;
            if !self.store.observations.is_empty() || self.live.is_some() {
                // Keep what is shown; the Inputs tab says why the new files gave nothing.
                if self.load_failures.is_empty() {
                    self.load_failures.push(why);
                }
                return;
            }
            // Nothing shown to keep: show the empty result, so the flow view and the Inputs
            // tab can say what was read. Not a recent file: it holds nothing to reopen.
            self.install(Arc::new(done.store), label, Some(Arc::new(done.findings)));
            return;
        }
        // Recent files: the ones that were read, as absolute paths (reopened from anywhere).
        // Standard input cannot be reopened.
        for p in read.iter().rev().filter(|p| !crate::ingest::is_stdin(p)) {
            let Ok(abs) = std::path::absolute(p) else {
                continue;
            };
            self.settings.recent.retain(|r| r != &abs);
            self.settings.recent.insert(0, abs);
        }
        self.settings.recent.truncate(MAX_RECENT);
        self.live = None;
        self.analysis_config = done.config;
        self.install(Arc::new(done.store), label, Some(Arc::new(done.findings)));
        if !self.load_failures.is_empty() || self.store.inputs.iter().any(|i| i.skipped > 0) {
            self.settings.bottom_tab = BottomTab::Inputs;
        }
    }

    fn start_demo(&mut self) {
        self.start_live(
            crate::live::demo::spawn_demo(),
            "demo (simulator)",
            "live demo".into(),
        );
    }

    /// Watches broker URLs live (their status and counters are on the feed).
    /// Follows growing files as a live source (rotation and truncation are survived).
    fn start_follow(&mut self, paths: Vec<PathBuf>) {
        let label = format!("following {}", label_of(&paths));
        let feed = crate::live::follow::spawn_follow(paths, None);
        let name = feed.name.clone();
        self.start_live(feed, &name, label);
    }

    fn start_brokers(&mut self, urls: &[crate::source::BrokerUrl]) {
        match crate::live::broker::spawn_brokers(urls) {
            Ok(feed) => {
                let name = feed.name.clone();
                self.start_live(feed, &name, format!("live: {name}"));
            }
            Err(e) => self
                .load_failures
                .push(format!("cannot start the live sources: {e}")),
        }
    }

    /// Shows a live source: its worker owns the store and publishes what is shown.
    fn start_live(&mut self, feed: LiveFeed, input_name: &str, label: String) {
        self.analysis_config = crate::analysis::AnalysisConfig::default();
        let mut store = Store::new();
        let input = LiveInput::new(&mut store, input_name);
        // What is shown until the first snapshot: the input, no events yet.
        let shown = Arc::new(store.clone());
        let budget = self.pending.max_events.unwrap_or(self.settings.max_events);
        let worker = match LiveWorker::spawn(
            feed.receiver(),
            store,
            input,
            self.analysis_config.clone(),
            (budget > 0).then_some(budget as usize),
            Some(waker_for(&self.ctx)),
        ) {
            Ok(w) => w,
            Err(e) => {
                self.load_failures
                    .push(format!("cannot start the live worker thread: {e}"));
                return;
            }
        };
        self.install(shown, label, Some(Arc::new(Vec::new())));
        self.live = Some(Live {
            feed,
            worker,
            stats: None,
        });
        self.time.state = PlayState::Following;
    }

    /// Shows a new store: resets the cursor and selection, applies pending start options.
    /// `analysis` is the analysis findings when already computed (on the loading thread).
    fn install(&mut self, store: Arc<Store>, label: String, analysis: Option<Arc<Vec<Finding>>>) {
        let store_end = store.last_time();
        self.store = store;
        self.generation += 1;
        // The filter result of the previous data does not apply to this store.
        self.derived.reset_filter();
        self.source_label = label;
        // A file opens at its end (the whole picture); Home or Play replays it.
        self.time.time = store_end;
        self.time.loop_range = None;
        self.time.state = PlayState::Paused;
        self.selection = Selection::None;
        self.marked.clear();
        self.selected_finding = None;
        self.graph.fit_pending = true;
        self.after_data_change(analysis);
        self.apply_start_options();
    }

    fn after_data_change(&mut self, analysis: Option<Arc<Vec<Finding>>>) {
        // One truth: the app's findings are `analyze`'s, in its order, nothing added.
        self.findings = analysis.unwrap_or_else(|| {
            Arc::new(crate::analysis::analyze(&self.store, &self.analysis_config))
        });
        self.derived.refresh(
            &self.store,
            self.generation,
            &self.settings.filter,
            &self.findings,
        );
    }

    /// Applies `--cursor`, `--select` and `--play` once there is something to apply them
    /// to. One that does not apply is reported (over the graph, and by `--screenshot`'s
    /// exit code), never silently ignored; a live source gets more time to show it.
    fn apply_start_options(&mut self) {
        if self.store.observations.is_empty() {
            return;
        }
        let live = self.live.is_some();
        let mut cursor_set = false;
        if let Some(c) = self.pending.cursor.take() {
            match StartCursor::parse(&c).and_then(|sc| sc.resolve(&self.store, &c)) {
                Ok(t) => {
                    self.apply(Command::Time(TimeCommand::SetTime(t)));
                    cursor_set = true;
                }
                Err(why) => self.notice(why),
            }
        }
        if let Some(sel) = self.pending.select.take() {
            match StartSelect::parse(&sel).and_then(|s| s.resolve(&self.store, &self.findings)) {
                Ok(cmd) => {
                    let event = match cmd {
                        Command::Select(Selection::Event(e)) => Some(e),
                        _ => None,
                    };
                    self.apply(cmd);
                    // An event is shown where it happened: the cursor on its first
                    // observation (unless --cursor says otherwise), the table on its row.
                    if let Some(e) = event
                        && !cursor_set
                        && let Some(o) = self.store.first_observation(e)
                    {
                        let t = o.time;
                        self.apply(Command::Time(TimeCommand::SetTime(t)));
                    }
                }
                // What a live source has not sent yet may still come.
                Err(_) if live => self.pending.select = Some(sel),
                Err(why) => self.notice(why),
            }
        }
        if self.pending.play {
            self.pending.play = false;
            self.apply(Command::Time(TimeCommand::Play));
        }
    }

    /// Reports a startup option that does not apply to the input.
    fn notice(&mut self, why: String) {
        tracing::warn!("{why}");
        if let Some(plan) = &self.screenshot {
            plan.bad_option(why.clone());
        }
        self.notices.push(why);
    }

    /// Where Open dialogs start: the folder of the most recent file, else the working
    /// directory.
    fn dialog_start_dir(&self) -> Option<PathBuf> {
        self.settings
            .recent
            .first()
            .and_then(|p| p.parent())
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
    }

    fn open_in_app_dialog(&mut self, reason: Option<String>) {
        if self.open_dialog.is_none() {
            let dir = self
                .dialog_start_dir()
                .unwrap_or_else(|| PathBuf::from("/"));
            self.open_dialog = Some(OpenDialog::new(dir, reason));
        }
    }

    // ---- the frame ----

    fn drain(&mut self) {
        if let Some(l) = &self.loading {
            match l.try_finish() {
                Some(done) => {
                    let cancelled = l.is_cancelled();
                    self.loading = None;
                    if cancelled {
                        self.load_failures = vec!["loading cancelled".into()];
                    } else {
                        self.finish_load(done);
                    }
                }
                None => self.ctx.request_repaint_after(Duration::from_millis(100)),
            }
        }
        if let Some(rx) = &self.dialog
            && let Ok(answer) = rx.try_recv()
        {
            self.dialog = None;
            match answer {
                Some(paths) => self.open(paths),
                // rfd found neither a desktop portal nor zenity: our own dialog instead.
                None => self.open_in_app_dialog(Some(
                    "No system file dialog could be shown (no desktop portal or zenity \
                     answered), so eventlens shows its own."
                        .into(),
                )),
            }
        }
        if let Some(rx) = &self.export_job
            && let Ok(outcome) = rx.try_recv()
        {
            self.export_job = None;
            self.export.busy = false;
            self.export.status = Some(outcome);
        }
        if let Some(rx) = &self.export_browse
            && let Ok(answer) = rx.try_recv()
        {
            self.export_browse = None;
            match answer {
                Some(p) => self.export.set_path(p),
                None => {
                    self.export.status = Some(Err(
                        "no system save dialog could be shown: type the path instead".into(),
                    ))
                }
            }
        }
        // Live data: swap in the worker's latest snapshot (it parsed, finalized and
        // analysed; nothing of that happens here).
        if let Some(snap) = self.live.as_ref().and_then(|l| l.worker.take_snapshot()) {
            self.show_snapshot(snap);
        }
        if let Some(why) = self.live.as_ref().and_then(|l| l.worker.failure())
            && !self.load_failures.contains(&why)
        {
            self.load_failures.push(why);
            self.settings.bottom_tab = BottomTab::Inputs;
        }
    }

    /// Selects one thing: the table's selection becomes that event, or none.
    fn select(&mut self, s: Selection) {
        self.selection = s;
        self.marked = match s {
            Selection::Event(e) => vec![e],
            _ => Vec::new(),
        };
    }

    /// Shows a live snapshot: the cursor, selection and view stay as they are, unless
    /// retention folded events (event indices then name other events).
    fn show_snapshot(&mut self, snap: Snapshot) {
        let old = std::mem::replace(&mut self.store, snap.store);
        let refolded = match (&old.folded, &self.store.folded) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        };
        if refolded {
            if matches!(self.selection, Selection::Event(_)) {
                self.selection = Selection::None;
            }
            self.marked.clear();
        }
        self.derived.offer_views(snap.views);
        if let Some(live) = &mut self.live {
            live.stats = Some(snap.stats);
            live.worker.retire(old);
        }
        self.generation += 1;
        self.after_data_change(Some(snap.findings));
        self.apply_start_options();
    }

    fn keyboard(&self, ctx: &egui::Context, cmds: &mut Vec<Command>) {
        let export = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, Key::E);
        if ctx.input_mut(|i| i.consume_shortcut(&export)) {
            cmds.push(Command::OpenExport);
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        ctx.input(|i| {
            for (key, c) in [
                (Key::Space, TimeCommand::TogglePlay),
                (Key::ArrowLeft, TimeCommand::StepBack),
                (Key::ArrowRight, TimeCommand::StepForward),
                (Key::Home, TimeCommand::Home),
                (Key::End, TimeCommand::End),
            ] {
                if i.key_pressed(key) {
                    cmds.push(Command::Time(c));
                }
            }
        });
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            cmds.push(Command::Open(dropped));
        }
    }

    /// One frame of the whole UI.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if self.theme_applied.is_none() {
            Theme::install_fonts(&ctx);
        }
        if self.theme_applied != Some(self.settings.theme) {
            self.theme = Theme::new(self.settings.theme);
            self.theme.apply(&ctx);
            self.theme_applied = Some(self.settings.theme);
        }
        self.drain();
        let mut cmds = Vec::new();
        self.keyboard(&ctx, &mut cmds);
        let streaming = self.live.as_ref().is_some_and(|l| l.feed.is_connected());
        let dt = ctx.input(|i| i.stable_dt).min(0.1);
        let resp = self.time.update(dt, &*self.store, streaming);
        if resp.needs_repaint || self.time.is_playing() {
            ctx.request_repaint();
        }
        if self.derived.refresh(
            &self.store,
            self.generation,
            &self.settings.filter,
            &self.findings,
        ) {
            ctx.request_repaint();
        }
        let time = self.time.time_in(&*self.store).unwrap_or(0);
        if let Some(run) = self.redrive.replay_paced() {
            run.set_clock(time);
        }
        let table_rows = self.table_rows();
        let cx = ViewCtx {
            store: &self.store,
            theme: &self.theme,
            derived: &self.derived,
            findings: &self.findings,
            analysis_config: &self.analysis_config,
            time_ctl: &self.time,
            time,
            cursor_n: self.store.observations_until(time),
            origin: self.store.first_time().unwrap_or(0),
            selection: self.selection,
            marked: &self.marked,
            selected_finding: self.selected_finding,
            live: self.live.is_some(),
            color_by: self.settings.color_by,
            show_calls: self.settings.show_calls,
            filter_text: &self.settings.filter,
            load_failures: &self.load_failures,
            sources: self
                .live
                .as_ref()
                .map_or(&[], |l| l.feed.sources.as_slice()),
        };
        let panel_frame = egui::Frame::side_top_panel(ui.style())
            .inner_margin(egui::Margin::same(theme::PAD as i8));
        egui::Panel::top("menu").show(ui, |ui| {
            menu_bar(
                ui,
                &cx,
                &self.settings,
                self.loading.as_ref(),
                self.live.as_ref().map(|l| (&l.feed, l.worker.recording())),
                &self.source_label,
                &mut cmds,
            );
        });
        egui::Panel::bottom("timeline")
            .resizable(true)
            .default_size(theme::TIMELINE_H)
            .frame(panel_frame)
            .show(ui, |ui| {
                super::timeline::controls(ui, &cx, &mut self.timeline, &mut cmds);
                super::timeline::plot(ui, &cx, &mut self.timeline, &mut cmds);
            });
        egui::Panel::bottom("tabs")
            .resizable(true)
            .default_size(theme::BOTTOM_TABS_H)
            .min_size(120.0)
            .frame(panel_frame)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    let tab = self.settings.bottom_tab;
                    let n_issues: u64 = self
                        .store
                        .inputs
                        .iter()
                        .map(|i| i.skipped + i.violation_count)
                        .sum::<u64>()
                        + self.load_failures.len() as u64;
                    for (t, label) in [
                        (
                            BottomTab::Events,
                            format!("Events ({})", fmt_count(table_rows as u64)),
                        ),
                        (BottomTab::Latency, "Latency".to_string()),
                        (
                            BottomTab::Inputs,
                            format!("Inputs & read errors ({})", fmt_count(n_issues)),
                        ),
                    ] {
                        if ui.selectable_label(tab == t, label).clicked() {
                            cmds.push(Command::SetBottomTab(t));
                        }
                    }
                });
                ui.separator();
                match self.settings.bottom_tab {
                    BottomTab::Events => super::table::show(ui, &cx, &mut self.table, &mut cmds),
                    BottomTab::Latency => {
                        super::latency::show(ui, &cx, &mut self.latency, &mut cmds)
                    }
                    BottomTab::Inputs => inputs_panel(ui, &cx, &mut cmds),
                }
                // A panel keeps the size of its content: claim exactly the panel (no item
                // spacing, which would grow it a little every frame) so it keeps its own.
                let full = ui.max_rect();
                ui.expand_to_include_rect(full);
            });
        if self.settings.show_findings {
            egui::Panel::left("findings")
                .resizable(true)
                .default_size(theme::PANEL_LEFT_W)
                .max_size(theme::PANEL_LEFT_W * 1.6)
                .frame(panel_frame)
                .show(ui, |ui| {
                    findings::show(ui, &cx, &mut self.findings_view, &mut cmds)
                });
        }
        if self.settings.show_inspector {
            egui::Panel::right("inspector")
                .resizable(true)
                .default_size(theme::PANEL_RIGHT_W)
                .max_size(theme::PANEL_RIGHT_W * 1.6)
                .frame(panel_frame)
                .show(ui, |ui| {
                    super::inspector::show(ui, &cx, &mut self.inspector, &mut cmds)
                });
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::central_panel(ui.style()).inner_margin(egui::Margin::same(4)))
            .show(ui, |ui| {
                let canvas = super::graph::show(ui, &cx, &mut self.graph, &mut cmds);
                if let Some(l) = &self.loading {
                    loading_overlay(ui, l, &mut cmds);
                } else if let Some(state) = EmptyState::of(&cx) {
                    super::empty::show(ui, &cx, &state, canvas, &mut cmds);
                }
                if !self.notices.is_empty() {
                    notices_overlay(ui, &cx, canvas, &self.notices, &mut cmds);
                }
                if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
                    let r = ui.max_rect();
                    ui.painter()
                        .rect_filled(r, 0.0, self.theme.canvas.gamma_multiply(0.8));
                    ui.painter().text(
                        r.center(),
                        egui::Align2::CENTER_CENTER,
                        "Drop to open",
                        egui::FontId::proportional(22.0),
                        self.theme.text,
                    );
                }
            });
        if self.connect.open {
            self.connect.show(&ctx, &cx, &mut cmds);
        }
        if self.record.open {
            let recording = self.live.as_ref().and_then(|l| l.worker.recording());
            self.record.show(
                &ctx,
                &cx,
                self.live.is_some(),
                recording.as_ref(),
                &mut cmds,
            );
        }
        if self.export.open {
            self.export.show(&ctx, &cx, &mut cmds);
        }
        if self.redrive.open || self.redrive.is_running() {
            self.redrive.show(&ctx, &cx, &mut cmds);
        }
        if let Some(d) = &mut self.open_dialog
            && let Some(action) = d.show(&ctx)
        {
            self.open_dialog = None;
            if let DialogAction::Open(paths) = action {
                cmds.push(Command::Open(paths));
            }
        }
        for c in cmds {
            self.apply(c);
        }
        self.screenshot_step(&ctx);
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let Some(plan) = &mut self.screenshot else {
            return;
        };
        let waiting_for = if let Some(l) = &self.loading {
            Some(l.describe())
        } else if self.live.is_some() && plan.elapsed() < LIVE_WARMUP {
            Some(format!(
                "the live demo's first {} s of events",
                LIVE_WARMUP.as_secs()
            ))
        } else if self.derived.is_filtering() {
            Some(format!(
                "the filter \u{201c}{}\u{201d}",
                self.settings.filter
            ))
        } else {
            None
        };
        plan.step(ctx, waiting_for);
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Time(c) => {
                self.time.apply(c, &*self.store);
            }
            Command::Select(s) => {
                self.select(s);
                self.selected_finding = None;
            }
            Command::Mark(mut events) => {
                events.sort_unstable();
                events.dedup();
                events.retain(|e| (e.0 as usize) < self.store.events.len());
                self.marked = events;
            }
            Command::SelectFinding(i) => {
                let Some(f) = self.findings.get(i) else {
                    return;
                };
                let (s, first) = (findings::selection_of(f), f.first);
                self.select(s);
                self.selected_finding = Some(i);
                if let Some(t) = first {
                    self.time.apply(TimeCommand::Pause, &*self.store);
                    self.time.apply(TimeCommand::SetTime(t), &*self.store);
                }
            }
            Command::JumpFinding(dir) => {
                let Some(now) = self.cursor() else { return };
                let times = &self.derived.finding_times;
                let t = if dir > 0 {
                    times.get(times.partition_point(|&x| x <= now)).copied()
                } else {
                    times
                        .partition_point(|&x| x < now)
                        .checked_sub(1)
                        .and_then(|i| times.get(i))
                        .copied()
                };
                if let Some(t) = t
                    && let Some(i) = self.findings.iter().position(|f| f.first == Some(t))
                {
                    self.apply(Command::SelectFinding(i));
                }
            }
            Command::SetFilter(f) => self.settings.filter = f,
            Command::Open(paths) => self.open(paths),
            Command::OpenDialog => {
                if self.dialog.is_none() && self.open_dialog.is_none() {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    let waker = waker_for(&self.ctx);
                    let start = self.dialog_start_dir();
                    let spawned = std::thread::Builder::new()
                        .name("eventlens-dialog".into())
                        .spawn(move || {
                            let mut d = rfd::FileDialog::new().set_title("Open captures or traces");
                            if let Some(dir) = start {
                                d = d.set_directory(dir);
                            }
                            // Some(empty) is a cancel; None means no dialog could be shown.
                            let _ = tx.send(d.pick_files());
                            waker();
                        });
                    match spawned {
                        Ok(_) => self.dialog = Some(rx),
                        Err(e) => self.open_in_app_dialog(Some(format!(
                            "The system file dialog could not be started ({e})."
                        ))),
                    }
                }
            }
            Command::OpenInAppDialog => self.open_in_app_dialog(None),
            Command::DismissNotices => self.notices.clear(),
            Command::StartDemo => self.start_demo(),
            Command::OpenConnect => self.connect.open = true,
            Command::OpenRecord => {
                if self.record.path.is_empty() {
                    self.record.path = super::record::default_path();
                }
                self.record.open = true;
            }
            Command::StartRecording(path) => {
                self.record.outcome = Some(match &self.live {
                    Some(l) => match l.worker.start_recording(&path) {
                        Ok(()) => Ok(format!("Recording into {}", path.display())),
                        Err(e) => Err(format!("Cannot record into {}: {e}", path.display())),
                    },
                    None => Err("Nothing live is shown to record".into()),
                });
            }
            Command::StopRecording => {
                if let Some(r) = self.live.as_ref().and_then(|l| l.worker.stop_recording()) {
                    self.record.outcome = Some(match &r.error {
                        Some(e) => Err(e.clone()),
                        None => Ok(format!("Wrote {}", r.describe())),
                    });
                    // The next recording gets a name of its own.
                    self.record.path = super::record::default_path();
                }
            }
            Command::Connect(urls) => {
                self.load_failures.clear();
                self.start_brokers(&urls);
            }
            Command::OpenRedrive => {
                let origin = self.store.first_time().unwrap_or(0);
                let secs = |t: Nanos| (t - origin) as f64 / 1e9;
                let window = match self.time.loop_range {
                    Some((a, b)) => (secs(a), secs(b)),
                    None => (0.0, self.cursor().map_or(0.0, secs)),
                };
                let selected = matches!(self.selection, Selection::Event(_));
                self.redrive.open_with(selected, window);
            }
            Command::StartRedrive(req) => match crate::source::runtime() {
                Ok(rt) => {
                    let req = *req;
                    let pacing = req.options.pacing;
                    if pacing == crate::redrive::Pacing::Replay {
                        // The replay paces it: from its first event, playing at the
                        // replay panel's speed.
                        let first = req
                            .events
                            .iter()
                            .filter_map(|&e| crate::redrive::first_time(&self.store, e))
                            .min();
                        if let Some(t) = first {
                            self.time.apply(TimeCommand::SetTime(t), &*self.store);
                            self.time.apply(TimeCommand::Play, &*self.store);
                        }
                    }
                    let run = crate::redrive::RedriveRun::start_from_store(
                        self.store.clone(),
                        req.events,
                        req.target,
                        req.options,
                        rt.handle(),
                        Some(waker_for(&self.ctx)),
                    );
                    if pacing == crate::redrive::Pacing::Replay {
                        // The clock from the start, not only from the next frame.
                        run.set_clock(self.time.time_in(&*self.store).unwrap_or(0));
                    }
                    self.redrive.started(run, pacing);
                }
                Err(e) => self
                    .load_failures
                    .push(format!("cannot start the re-drive: {e}")),
            },
            Command::CancelLoad => {
                if let Some(l) = &self.loading {
                    l.cancel();
                }
            }
            Command::SetTheme(t) => self.settings.theme = t,
            Command::SetBottomTab(t) => self.settings.bottom_tab = t,
            Command::SetColorBy(c) => self.settings.color_by = c,
            Command::SetShowCalls(on) => self.settings.show_calls = on,
            Command::SetMaxEvents(n) => self.settings.max_events = n,
            Command::CopyText(s) => self.ctx.copy_text(s),
            Command::FitGraph => self.graph.fit_pending = true,
            Command::ClearRecent => self.settings.recent.clear(),
            Command::OpenExport => self.export.open = true,
            Command::ExportBrowse => {
                if self.export_browse.is_none() {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    let waker = waker_for(&self.ctx);
                    let current = PathBuf::from(&self.export.path);
                    let spawned = std::thread::Builder::new()
                        .name("eventlens-save-dialog".into())
                        .spawn(move || {
                            let mut d = rfd::FileDialog::new().set_title("Export the flow diagram");
                            if let Some(dir) = current.parent() {
                                d = d.set_directory(dir);
                            }
                            if let Some(name) = current.file_name() {
                                d = d.set_file_name(name.to_string_lossy());
                            }
                            let _ = tx.send(d.save_file());
                            waker();
                        });
                    match spawned {
                        Ok(_) => self.export_browse = Some(rx),
                        Err(e) => {
                            self.export.status =
                                Some(Err(format!("the save dialog could not be started ({e})")))
                        }
                    }
                }
            }
            Command::Export(req) => self.start_export(req),
        }
    }

    /// Writes an export on a thread of its own: the store cut to the scope, rendered, written;
    /// the dialog shows the outcome when the thread sends it.
    fn start_export(&mut self, req: super::ExportRequest) {
        use super::ExportScope;
        use crate::export::{self, scene::Colouring};
        let cut = match req.scope {
            ExportScope::Whole => Cut::All,
            ExportScope::Filter => match &self.derived.filter {
                Some(f) => Cut::Keep(f.observations.clone()),
                None => Cut::All,
            },
            ExportScope::Selection => match self.selection {
                Selection::None => Cut::All,
                Selection::Node(n) => Cut::Node(n),
                Selection::Edge(a, b) => Cut::Edge(a, b),
                Selection::Event(e) => {
                    let mut obs: Vec<u32> = self
                        .marked
                        .iter()
                        .chain(std::iter::once(&e))
                        .flat_map(|&m| self.store.observations_of(m).iter().copied())
                        .collect();
                    obs.sort_unstable();
                    obs.dedup();
                    Cut::Keep(obs)
                }
            },
            ExportScope::Window => {
                let origin = self.store.first_time().unwrap_or(0);
                match self.timeline.zoom {
                    Some((a, b)) => {
                        Cut::Range(origin + (a * 1e9) as Nanos, origin + (b * 1e9) as Nanos)
                    }
                    None => Cut::Range(Nanos::MIN, self.cursor().unwrap_or(Nanos::MAX)),
                }
            }
        };
        let store = Arc::clone(&self.store);
        let cfg = self.analysis_config.clone();
        let colouring = match self.settings.color_by {
            super::ColorBy::Errors => Colouring::Errors,
            super::ColorBy::Latency => Colouring::Latency,
        };
        let show_calls = self.settings.show_calls;
        let palette = self.theme.palette;
        let filter = (req.scope == ExportScope::Filter).then(|| self.settings.filter.clone());
        let (tx, rx) = crossbeam_channel::bounded(1);
        let waker = waker_for(&self.ctx);
        let spawned = std::thread::Builder::new()
            .name("eventlens-export".into())
            .spawn(move || {
                let keep = cut.observations(&store);
                let sub;
                let shown: &Store = match keep {
                    Some(k) => {
                        sub = store.subset(&k);
                        &sub
                    }
                    None => store.as_ref(),
                };
                let opts = export::Options {
                    filter: filter.as_deref(),
                    colouring,
                    show_calls,
                    palette: Some(palette),
                    ..Default::default()
                };
                let outcome = export::render(shown, &cfg, req.format, &opts)
                    .map_err(|e| format!("Export failed: {e}"))
                    .and_then(|bytes| {
                        std::fs::write(&req.path, &bytes)
                            .map_err(|e| format!("Cannot write {}: {e}", req.path.display()))
                            .map(|()| {
                                format!(
                                    "Wrote {} ({} bytes, {})",
                                    req.path.display(),
                                    fmt_count(bytes.len() as u64),
                                    req.format.name()
                                )
                            })
                    });
                let _ = tx.send(outcome);
                waker();
            });
        match spawned {
            Ok(_) => {
                self.export.busy = true;
                self.export.status = None;
                self.export_job = Some(rx);
            }
            Err(e) => {
                self.export.status = Some(Err(format!("the export could not be started ({e})")))
            }
        }
    }
}

/// Which observations an export keeps (worked out on the export's thread).
enum Cut {
    All,
    Keep(Vec<u32>),
    Node(crate::model::NodeId),
    Edge(crate::model::NodeId, crate::model::NodeId),
    /// Observed within these times (inclusive).
    Range(Nanos, Nanos),
}

impl Cut {
    /// The observations to keep, in order; `None` for all.
    fn observations(self, store: &Store) -> Option<Vec<u32>> {
        let pick = |f: &dyn Fn(&crate::model::Observation) -> bool| -> Vec<u32> {
            store
                .observations
                .iter()
                .enumerate()
                .filter(|(_, o)| f(o))
                .map(|(i, _)| i as u32)
                .collect()
        };
        match self {
            Cut::All => None,
            Cut::Keep(mut k) => {
                k.sort_unstable();
                k.dedup();
                Some(k)
            }
            Cut::Node(n) => Some(pick(&|o| o.from == n || o.to == n)),
            Cut::Edge(a, b) => Some(pick(&|o| o.from == a && o.to == b)),
            Cut::Range(a, b) => Some(pick(&|o| o.time >= a && o.time <= b)),
        }
    }
}

impl eframe::App for EventLensApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn persist_egui_memory(&self) -> bool {
        self.screenshot.is_none()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.screenshot.is_some() {
            return;
        }
        self.settings.time.speed = self.time.speed;
        eframe::set_value(storage, STORAGE_KEY, &self.settings);
    }
}
