//! The Inputs tab: what was read from each input, and what could not be.

use super::{Command, Selection, ViewCtx, fmt_count};
use egui::RichText;

/// What was read from each input: records, unreadable records and spec violations by line
/// (a violation links to its event), and the files that could not be read at all.
pub(super) fn inputs_panel(ui: &mut egui::Ui, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
    let failures = cx.load_failures;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for f in failures {
                ui.label(RichText::new(f).color(cx.theme.error));
            }
            if !cx.sources.is_empty() {
                super::connect::sources_table(ui, cx);
                ui.separator();
            }
            for (ii, input) in cx.store.inputs.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.strong(&input.path);
                    ui.label(
                        RichText::new(format!(
                            "{} · {} records · {} unreadable · {} spec violations · {} notes",
                            input.format.map_or("?", |f| f.as_str()),
                            fmt_count(input.records),
                            fmt_count(input.skipped),
                            fmt_count(input.violation_count),
                            fmt_count(input.note_count)
                        ))
                        .color(cx.theme.text_weak),
                    );
                });
                for e in &input.errors {
                    ui.label(
                        RichText::new(where_what(&input.path, e.line, &e.message))
                            .color(cx.theme.error)
                            .monospace(),
                    );
                }
                for v in &input.violations {
                    let text = RichText::new(where_what(&input.path, v.line, &v.message))
                        .color(cx.theme.warn)
                        .monospace();
                    match cx.derived.event_at(cx.store, ii as u16, v.line) {
                        Some(e) => {
                            let selected = cx.selection == Selection::Event(e);
                            if ui
                                .selectable_label(selected, text)
                                .on_hover_text("Select this event")
                                .clicked()
                            {
                                cmds.push(Command::Select(Selection::Event(e)));
                            }
                        }
                        None => {
                            ui.label(text);
                        }
                    }
                }
                for n in &input.notes {
                    ui.label(
                        RichText::new(where_what(&input.path, n.line, &n.message))
                            .color(cx.theme.text_weak)
                            .monospace(),
                    );
                }
            }
            if cx.store.inputs.is_empty() && failures.is_empty() {
                ui.label("No inputs.");
            }
        });
}

/// `  path:line: message`; a notice about the input as a whole (line 0) names no line.
fn where_what(path: &str, line: u64, message: &str) -> String {
    if line == 0 {
        format!("  {path}: {message}")
    } else {
        format!("  {path}:{line}: {message}")
    }
}
