//! What persists between runs (eframe storage).

use super::theme::ThemeChoice;
use super::{BottomTab, ColorBy};
use crate::replay::TimeControl;
use std::path::PathBuf;

/// What persists between runs (eframe storage).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub theme: ThemeChoice,
    pub recent: Vec<PathBuf>,
    pub time: TimeControl,
    pub bottom_tab: BottomTab,
    pub color_by: ColorBy,
    pub filter: String,
    pub show_findings: bool,
    pub show_inspector: bool,
    /// Draw synchronous calls (dashed) beside the event flow.
    pub show_calls: bool,
    /// Events a live source keeps (0: all); older ones are folded into the counts,
    /// histograms and findings (`--max-events`).
    pub max_events: u64,
}

/// The retention budget of a live source when none is set: about 0.5 GB of a busy broker's
/// events, a day's worth at a dozen events a second.
pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            theme: ThemeChoice::Dark,
            recent: Vec::new(),
            time: TimeControl::default(),
            bottom_tab: BottomTab::Events,
            color_by: ColorBy::Errors,
            filter: String::new(),
            show_findings: true,
            show_inspector: true,
            show_calls: true,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_save_and_load_and_tolerate_missing_fields() {
        let mut s = Settings {
            theme: ThemeChoice::Light,
            recent: vec![PathBuf::from("/tmp/capture.jsonl")],
            bottom_tab: BottomTab::Latency,
            color_by: ColorBy::Latency,
            filter: "outcome:error".into(),
            ..Default::default()
        };
        s.time.speed = 5.0;
        let json = serde_json::to_string(&s).expect("serializes");
        let back: Settings = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back.theme, ThemeChoice::Light);
        assert_eq!(back.recent, s.recent);
        assert_eq!(back.bottom_tab, BottomTab::Latency);
        assert_eq!(back.color_by, ColorBy::Latency);
        assert_eq!(back.filter, "outcome:error");
        assert_eq!(back.time.speed, 5.0);
        // An older or partial file still loads, with defaults for the rest.
        let partial: Settings = serde_json::from_str(r#"{"theme":"Light"}"#).expect("partial");
        assert_eq!(partial.theme, ThemeChoice::Light);
        assert!(partial.show_inspector);
    }
}
