//! Overlays over the graph: loading progress and startup notices.

use super::{Command, ViewCtx};
use crate::live::loader::Loading;
use egui::RichText;

pub(super) fn loading_overlay(ui: &mut egui::Ui, l: &Loading, cmds: &mut Vec<Command>) {
    let r = ui.max_rect();
    let area = egui::Rect::from_center_size(r.center(), egui::vec2(420.0, 110.0));
    ui.scope_builder(egui::UiBuilder::new().max_rect(area), |ui| {
        egui::Frame::popup(ui.style()).show(ui, |ui| {
            let names: Vec<String> = l.paths.iter().map(|p| p.display().to_string()).collect();
            ui.label(format!("Loading {}", names.join(", ")));
            ui.add(egui::ProgressBar::new(l.fraction()).show_percentage());
            if ui.button("Cancel").clicked() {
                cmds.push(Command::CancelLoad);
            }
        });
    });
}

/// Startup options that did not apply, over the top of the graph, until dismissed.
pub(super) fn notices_overlay(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    canvas: egui::Rect,
    notices: &[String],
    cmds: &mut Vec<Command>,
) {
    let w = (canvas.width() - 24.0).clamp(200.0, 640.0);
    let area = egui::Rect::from_min_size(
        egui::pos2(canvas.center().x - w / 2.0, canvas.top() + 8.0),
        egui::vec2(w, canvas.height() - 16.0),
    );
    ui.scope_builder(egui::UiBuilder::new().max_rect(area), |ui| {
        egui::Frame::popup(ui.style())
            .stroke(egui::Stroke::new(1.5, cx.theme.error))
            .show(ui, |ui| {
                ui.set_width(w - 20.0);
                ui.label(
                    RichText::new("Startup options that do not apply")
                        .strong()
                        .color(cx.theme.error),
                );
                for n in notices {
                    ui.add(egui::Label::new(RichText::new(n).color(cx.theme.text)).wrap());
                }
                if ui.button("Dismiss").clicked() {
                    cmds.push(Command::DismissNotices);
                }
            });
    });
}
