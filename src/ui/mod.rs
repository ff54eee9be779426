//! The desktop app (eframe/egui): the only module that knows egui.
//!
//! Panels get a read-only [`ViewCtx`] and push [`Command`]s, which the app applies at the end
//! of the frame (rerun's command pattern); a panel never reaches into another's state. File
//! loading and live sources run on threads (`crate::live`) and arrive through bounded
//! channels that the app drains within a per-frame budget.

mod app;
pub mod bench;
mod connect;
mod derived;
mod empty;
mod export_dialog;
pub mod findings;
mod graph;
mod inputs;
mod inspector;
mod latency;
mod menu;
mod open_dialog;
mod overlays;
mod plot_axes;
mod record;
mod redrive;
mod screenshot;
mod settings;
pub mod startup;
mod table;
pub mod theme;
mod timeline;

pub use app::{EventLensApp, StartOptions};
pub use derived::Derived;
pub use export_dialog::{ExportRequest, ExportScope};
pub use latency::LatencyFigures;
pub use redrive::RedriveRequest;
pub use screenshot::{ScreenshotOutcome, ScreenshotRequest};
pub use settings::Settings;

use crate::model::{EventIdx, NodeId, Store};
use crate::replay::{TimeCommand, TimeControl};
use crate::time::Nanos;
use std::path::PathBuf;

/// What is selected; the inspector shows it and the graph lights it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Selection {
    #[default]
    None,
    Node(NodeId),
    /// An edge of the topology (from, to).
    Edge(NodeId, NodeId),
    Event(EventIdx),
}

/// Which tab the lower panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum BottomTab {
    #[default]
    Events,
    Latency,
    Inputs,
}

/// Edge colouring of the flow graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ColorBy {
    #[default]
    Errors,
    Latency,
}

/// Everything a panel can ask for; applied at the end of the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Time(TimeCommand),
    Select(Selection),
    /// The events selected in the table (Ctrl+click adds or removes one, Shift+click a
    /// range), sorted; applied after a `Select` of the same frame.
    Mark(Vec<EventIdx>),
    SelectFinding(usize),
    /// Jump to the previous (-1) or next (+1) finding on the timeline.
    JumpFinding(i32),
    SetFilter(String),
    Open(Vec<PathBuf>),
    /// The system's file dialog, or the in-app one where none can be shown.
    OpenDialog,
    /// The in-app file dialog (the fallback of [`Command::OpenDialog`]).
    OpenInAppDialog,
    /// Hide the startup problems shown over the graph.
    DismissNotices,
    StartDemo,
    /// The Connect dialog (broker URLs, presets, status).
    OpenConnect,
    /// Watch these broker sources live, instead of what is shown now.
    Connect(Vec<crate::source::BrokerUrl>),
    CancelLoad,
    /// The Re-drive dialog.
    OpenRedrive,
    /// Send events again (the Re-drive dialog's confirmed request).
    StartRedrive(Box<redrive::RedriveRequest>),
    SetTheme(theme::ThemeChoice),
    SetBottomTab(BottomTab),
    SetColorBy(ColorBy),
    /// Show or hide the call edges (HTTP, gRPC, store access outside event handling).
    SetShowCalls(bool),
    /// The retention budget of the next live source (0: keep all).
    SetMaxEvents(u64),
    /// The Record dialog.
    OpenRecord,
    /// Record what the live source delivers from now on into this capture file.
    StartRecording(PathBuf),
    StopRecording,
    CopyText(String),
    FitGraph,
    ClearRecent,
    /// The Export dialog (File > Export, Ctrl+E).
    OpenExport,
    /// Choose the export's path in the system's save dialog.
    ExportBrowse,
    /// Write an export (on a thread of its own; the dialog shows the outcome).
    Export(ExportRequest),
}

/// Read-only state for the panels of one frame.
pub struct ViewCtx<'a> {
    pub store: &'a Store,
    pub theme: &'a theme::Theme,
    pub derived: &'a Derived,
    /// `analyze`'s findings, in its order: index N is `findings[N]` of `analyze --json`.
    pub findings: &'a [crate::analysis::Finding],
    /// The thresholds the findings were computed with (also for the engine's latency).
    pub analysis_config: &'a crate::analysis::AnalysisConfig,
    pub time_ctl: &'a TimeControl,
    /// The cursor.
    pub time: Nanos,
    /// Observations at or before the cursor.
    pub cursor_n: usize,
    /// Time zero of the axes.
    pub origin: Nanos,
    pub selection: Selection,
    /// The events selected in the table, sorted (the selected event alone, or several).
    pub marked: &'a [EventIdx],
    pub selected_finding: Option<usize>,
    pub live: bool,
    pub color_by: ColorBy,
    pub show_calls: bool,
    pub filter_text: &'a str,
    /// Files of the last load that could not be read at all (one sentence each).
    pub load_failures: &'a [String],
    /// The live broker sources, with their status and counters (none for files).
    pub sources: &'a [std::sync::Arc<crate::source::SourceStats>],
}

impl ViewCtx<'_> {
    /// Seconds since the origin.
    pub fn secs(&self, t: Nanos) -> f64 {
        (t - self.origin) as f64 / 1e9
    }
}

/// Formats a duration in nanoseconds for people.
pub fn fmt_duration(ns: i64) -> String {
    crate::export::scene::fmt_duration(ns)
}

/// Formats a count with thousands separators.
pub fn fmt_count(n: u64) -> String {
    crate::export::scene::fmt_count(n)
}
