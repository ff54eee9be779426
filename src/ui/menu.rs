//! The menu bar: File, View, Help, the live status and the totals.

use super::settings::Settings;
use super::theme::ThemeChoice;
use super::{Command, ViewCtx, fmt_count};
use crate::live::LiveFeed;
use crate::live::loader::Loading;
use crate::live::worker::RecordingStatus;
use egui::RichText;
use std::path::PathBuf;

pub(super) fn menu_bar(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    settings: &Settings,
    loading: Option<&Loading>,
    live: Option<(&LiveFeed, Option<RecordingStatus>)>,
    label: &str,
    cmds: &mut Vec<Command>,
) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open…").clicked() {
                cmds.push(Command::OpenDialog);
            }
            if ui
                .button("Open with eventlens's browser…")
                .on_hover_text("eventlens's own file dialog, for where the system's does not work")
                .clicked()
            {
                cmds.push(Command::OpenInAppDialog);
            }
            ui.menu_button("Open recent", |ui| {
                if settings.recent.is_empty() {
                    ui.label("(none)");
                }
                for p in &settings.recent {
                    if ui.button(p.display().to_string()).clicked() {
                        cmds.push(Command::Open(vec![p.clone()]));
                    }
                }
                if !settings.recent.is_empty() && ui.button("Clear recent").clicked() {
                    cmds.push(Command::ClearRecent);
                }
            });
            if ui.button("Connect to a broker…").clicked() {
                cmds.push(Command::OpenConnect);
            }
            if ui.button("Re-drive events…").clicked() {
                cmds.push(Command::OpenRedrive);
            }
            if ui.button("Live demo").clicked() {
                cmds.push(Command::StartDemo);
            }
            if ui
                .add_enabled(live.is_some(), egui::Button::new("Record live source…"))
                .on_disabled_hover_text("Connect to a broker, follow a file or start the demo first")
                .clicked()
            {
                cmds.push(Command::OpenRecord);
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
        ui.menu_button("Export", |ui| {
            if ui
                .add(egui::Button::new("Export the flow diagram…").shortcut_text("Ctrl+E"))
                .on_hover_text("SVG, PNG, DOT, Mermaid, PlantUML or JSON, of the whole graph, the filter, the selection or the time window")
                .clicked()
            {
                cmds.push(Command::OpenExport);
            }
        });
        ui.menu_button("View", |ui| {
            if ui.button("Fit graph").clicked() {
                cmds.push(Command::FitGraph);
            }
            let mut t = settings.theme;
            ui.radio_value(&mut t, ThemeChoice::Dark, "Dark theme");
            ui.radio_value(&mut t, ThemeChoice::Light, "Light theme");
            if t != settings.theme {
                cmds.push(Command::SetTheme(t));
            }
            ui.separator();
            ui.menu_button("Live retention", |ui| {
                ui.label(
                    "Events a live source keeps. Older ones are folded into the counts, \
                     histograms and findings; 0 keeps all. For the next live source.",
                );
                let mut n = settings.max_events;
                ui.add(egui::DragValue::new(&mut n).speed(10_000.0).range(0..=u64::MAX).suffix(" events"));
                if n != settings.max_events {
                    cmds.push(Command::SetMaxEvents(n));
                }
            });
        });
        ui.menu_button("Help", |ui| {
            ui.label("Space: play/pause · ←/→: step one event · Home/End");
            ui.label("Graph: drag to pan, scroll to zoom, double-click to fit");
            ui.label("Filter: type:X source:X channel:X handler:X outcome:error latency>50ms time:a..b text");
        });
        ui.separator();
        ui.label(RichText::new("eventlens").strong().color(cx.theme.accent));
        ui.label(RichText::new(label).color(cx.theme.text_weak));
        if let Some((feed, recording)) = &live {
            let c = if feed.is_connected() { cx.theme.error } else { cx.theme.text_weak };
            ui.label(RichText::new("● LIVE").color(c).strong());
            if feed.dropped() > 0 {
                ui.label(RichText::new(format!("{} dropped", fmt_count(feed.dropped()))).color(cx.theme.warn));
            }
            if let Some(r) = recording {
                let name = r.path.file_name().map_or_else(|| r.path.display().to_string(), |n| n.to_string_lossy().into_owned());
                let mut text = format!("⏺ REC {} → {}", fmt_count(r.records), name);
                if r.spans > 0 {
                    text.push_str(&format!(" · {} spans", fmt_count(r.spans)));
                }
                let c = if r.error.is_some() { cx.theme.warn } else { cx.theme.error };
                let l = ui.add(egui::Button::new(RichText::new(text).color(c)).frame(false));
                let l = match &r.error {
                    Some(e) => l.on_hover_text(e),
                    None => l.on_hover_text(format!("Recording: {}; click to stop", r.describe())),
                };
                if l.clicked() {
                    cmds.push(Command::OpenRecord);
                }
            }
        }
        if let Some(l) = loading {
            ui.add(egui::ProgressBar::new(l.fraction()).desired_width(160.0).show_percentage());
            if ui.button("Cancel").clicked() {
                cmds.push(Command::CancelLoad);
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let folded = cx.store.folded.as_deref();
            let calls = cx.store.call_events + folded.map_or(0, |f| f.calls);
            let events = cx.store.events.len() as u64 - cx.store.call_events
                + folded.map_or(0, |f| f.events - f.calls);
            let mut text = format!("{} events", fmt_count(events));
            if calls > 0 {
                text.push_str(&format!(" · {} calls", fmt_count(calls)));
            }
            text.push_str(&format!(
                " · {} observations",
                fmt_count(cx.store.observations.len() as u64 + folded.map_or(0, |f| f.observations))
            ));
            if let Some(f) = folded {
                text.push_str(&format!(" · {} folded", fmt_count(f.events)));
            }
            let label = ui.label(RichText::new(text).color(cx.theme.text_weak));
            if let Some(f) = folded {
                label.on_hover_text(format!(
                    "Live retention keeps the newest {} events; {} older ones ({} observations) \
                     are folded: still counted in the graph's counts, the latency histograms and \
                     the findings, no longer listed as events or drawn on the timeline.",
                    fmt_count(cx.store.events.len() as u64),
                    fmt_count(f.events),
                    fmt_count(f.observations),
                ));
            }
        });
    });
}

/// The file names of `paths`, for the title bar.
pub(super) fn label_of(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| {
            if crate::ingest::is_stdin(p) {
                return crate::ingest::input_name(p);
            }
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
