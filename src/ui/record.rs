//! The Record dialog (File > Record live source…): the window records what its live source
//! delivers, from the moment it starts, into a capture file (`.zst`/`.gz` compress), as
//! `eventlens record` does from the command line. The menu bar shows it while it records.

use super::{Command, ViewCtx};
use crate::live::worker::RecordingStatus;
use egui::RichText;
use std::path::PathBuf;

#[derive(Default)]
pub struct RecordDialog {
    pub open: bool,
    pub path: String,
    /// The outcome of the last start or stop, shown in the dialog.
    pub outcome: Option<Result<String, String>>,
}

/// A file name in the working directory, after the time the dialog was opened.
pub fn default_path() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let now = crate::time::format_rfc3339(now);
    let stamp: String = now
        .chars()
        .take(19)
        .map(|c| if c == ':' { '-' } else { c })
        .collect();
    format!("eventlens-{stamp}.jsonl.zst")
}

impl RecordDialog {
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        cx: &ViewCtx<'_>,
        live: bool,
        recording: Option<&RecordingStatus>,
        cmds: &mut Vec<Command>,
    ) {
        let mut open = self.open;
        egui::Window::new("Record live source")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .default_width(520.0)
            .show(ctx, |ui| {
                ui.label(
                    RichText::new(
                        "Writes what the live source delivers from now on as an eventlens \
                         capture, and spans as OTLP JSON Lines (beside it, if both come), \
                         flushed as it goes (.zst or .gz compress). Open it later like any \
                         capture, or give it to `eventlens analyze`.",
                    )
                    .color(cx.theme.text_weak),
                );
                match recording {
                    Some(r) => {
                        ui.label(format!("Recording: {} so far", r.describe()));
                        if let Some(e) = &r.error {
                            ui.label(RichText::new(e).color(cx.theme.error));
                        }
                        if ui.button("Stop recording").clicked() {
                            cmds.push(Command::StopRecording);
                        }
                    }
                    None => {
                        ui.horizontal(|ui| {
                            ui.label("File:");
                            ui.add(
                                egui::TextEdit::singleline(&mut self.path)
                                    .desired_width(380.0)
                                    .id_salt("record-path"),
                            );
                        });
                        let ready = live && !self.path.trim().is_empty();
                        if !live {
                            ui.label(
                                RichText::new("Nothing live is shown: connect to a broker, follow a file or start the demo first.")
                                    .color(cx.theme.warn),
                            );
                        }
                        if ui
                            .add_enabled(ready, egui::Button::new("Start recording"))
                            .clicked()
                        {
                            cmds.push(Command::StartRecording(PathBuf::from(self.path.trim())));
                        }
                    }
                }
                match &self.outcome {
                    Some(Ok(s)) => {
                        ui.label(RichText::new(s).color(cx.theme.text_weak));
                    }
                    Some(Err(e)) => {
                        ui.label(RichText::new(e).color(cx.theme.error));
                    }
                    None => {}
                }
            });
        self.open = open;
    }
}
