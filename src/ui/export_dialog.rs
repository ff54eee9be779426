//! File > Export (Ctrl+E): the flow diagram as SVG, PNG, DOT, Mermaid, PlantUML or JSON, of
//! the whole graph, the current filter, the current selection or the current time window,
//! to a path typed in (with a default) or chosen in the system's save dialog. The app does
//! the writing on a thread of its own (`app`); this dialog says how it went.

use super::{Command, ViewCtx};
use crate::export::Format;
use egui::RichText;
use std::path::PathBuf;

/// What an export covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExportScope {
    /// Every observation of what is shown.
    #[default]
    Whole,
    /// What the filter box keeps.
    Filter,
    /// The selected node's, edge's or event's observations.
    Selection,
    /// The timeline's visible range, or the start to the cursor when it shows the whole run.
    Window,
}

impl ExportScope {
    pub const ALL: [ExportScope; 4] = [
        ExportScope::Whole,
        ExportScope::Filter,
        ExportScope::Selection,
        ExportScope::Window,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ExportScope::Whole => "whole graph",
            ExportScope::Filter => "current filter",
            ExportScope::Selection => "current selection",
            ExportScope::Window => "current time window",
        }
    }
}

/// What the user asked to export.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRequest {
    pub format: Format,
    pub scope: ExportScope,
    pub path: PathBuf,
}

/// The dialog's state.
pub struct ExportDialog {
    pub open: bool,
    pub format: Format,
    pub scope: ExportScope,
    pub path: String,
    /// The outcome of the last export: where it was written, or why not.
    pub status: Option<Result<String, String>>,
    /// An export is being written.
    pub busy: bool,
}

impl Default for ExportDialog {
    fn default() -> Self {
        ExportDialog {
            open: false,
            format: Format::Svg,
            scope: ExportScope::Whole,
            path: default_path(Format::Svg),
            status: None,
            busy: false,
        }
    }
}

/// `eventlens-flow.EXT` in the current folder.
fn default_path(format: Format) -> String {
    let dir = std::env::current_dir().unwrap_or_default();
    dir.join(format!("eventlens-flow.{}", format.extension()))
        .display()
        .to_string()
}

fn format_label(f: Format) -> &'static str {
    match f {
        Format::Svg => "SVG",
        Format::Png => "PNG",
        Format::Dot => "DOT",
        Format::Mermaid => "Mermaid",
        Format::PlantUml => "PlantUML",
        Format::Json => "JSON",
    }
}

impl ExportDialog {
    /// The path with its extension following a format change (when it had the old one).
    fn set_format(&mut self, f: Format) {
        let old = self.format;
        self.format = f;
        let p = PathBuf::from(&self.path);
        if p.extension().and_then(|e| e.to_str()) == Some(old.extension()) {
            self.path = p.with_extension(f.extension()).display().to_string();
        }
    }

    /// Sets the path (from the save dialog).
    pub fn set_path(&mut self, p: PathBuf) {
        if let Some(f) = p
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
        {
            self.format = f;
        }
        self.path = p.display().to_string();
    }

    pub fn show(&mut self, ctx: &egui::Context, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
        let mut open = self.open;
        egui::Window::new("Export the flow diagram")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .default_width(520.0)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.label("Format");
                    for f in Format::ALL {
                        if ui
                            .selectable_label(self.format == f, format_label(f))
                            .clicked()
                        {
                            self.set_format(f);
                        }
                    }
                });
                ui.horizontal(|ui| {
                    ui.label("Scope");
                    for s in ExportScope::ALL {
                        let enabled = match s {
                            ExportScope::Whole | ExportScope::Window => true,
                            ExportScope::Filter => !cx.filter_text.trim().is_empty(),
                            ExportScope::Selection => cx.selection != super::Selection::None,
                        };
                        let r = ui.add_enabled(
                            enabled,
                            egui::Button::selectable(self.scope == s, s.label()),
                        );
                        if r.clicked() {
                            self.scope = s;
                        }
                    }
                });
                ui.horizontal(|ui| {
                    let label = ui.label("Export path");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.path)
                            .desired_width(360.0)
                            .id_salt("export-path"),
                    )
                    .labelled_by(label.id);
                    if ui.button("Browse…").clicked() {
                        cmds.push(Command::ExportBrowse);
                    }
                });
                ui.horizontal(|ui| {
                    let path = self.path.trim();
                    let ok = !path.is_empty() && !self.busy;
                    if ui.add_enabled(ok, egui::Button::new("Save")).clicked() {
                        cmds.push(Command::Export(ExportRequest {
                            format: self.format,
                            scope: self.scope,
                            path: PathBuf::from(path),
                        }));
                    }
                    if self.busy {
                        ui.spinner();
                        ui.label("writing…");
                    }
                });
                match &self.status {
                    Some(Ok(msg)) => {
                        ui.label(RichText::new(msg).color(cx.theme.ok));
                    }
                    Some(Err(msg)) => {
                        ui.label(RichText::new(msg).color(cx.theme.error));
                    }
                    None => {}
                }
            });
        self.open = open;
    }
}
