//! The findings panel: exactly the findings of `analyze` (`crate::analysis::analyze`), in
//! its order and with its indexes, so finding #N here is `findings[N]` of `analyze --json`
//! and `--select finding:N`. Clicking one selects its nodes, edges, example event and time.
//!
//! The panel lists and selects; it computes nothing. What the inputs hold besides findings
//! (unreadable records, spec violations per line) is the Inputs tab's.

use super::{Command, Selection, ViewCtx};
use egui::RichText;

pub use crate::analysis::{Finding, Severity};

/// The panel's own state: which finding was last scrolled into view.
#[derive(Default)]
pub struct FindingsView {
    revealed: Option<usize>,
    /// Frames left to keep it scrolled into view (a request made while the list is still
    /// being laid out, e.g. right after loading, can land short).
    reveal_frames: u8,
}

/// The panel.
pub fn show(ui: &mut egui::Ui, cx: &ViewCtx<'_>, view: &mut FindingsView, cmds: &mut Vec<Command>) {
    let width = ui.available_width();
    ui.set_max_width(width);
    ui.horizontal(|ui| {
        ui.heading("Findings");
        ui.label(RichText::new(format!("{}", cx.findings.len())).color(cx.theme.text_weak));
    });
    ui.separator();
    if cx.findings.is_empty() {
        ui.label(RichText::new(no_findings(cx)).color(cx.theme.text_weak));
        return;
    }
    // Scroll a finding selected elsewhere (Finding ▶, the timeline, --select) into view,
    // once per selection, so the list can still be scrolled by hand afterwards.
    if cx.selected_finding != view.revealed {
        view.revealed = cx.selected_finding;
        view.reveal_frames = 3;
    }
    let reveal = cx.selected_finding.filter(|_| view.reveal_frames > 0);
    view.reveal_frames = view.reveal_frames.saturating_sub(1);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // Findings come sorted by severity, then time: one group per severity keeps
            // `analyze`'s order and indexes.
            let mut i = 0;
            while i < cx.findings.len() {
                let severity = cx.findings[i].severity;
                let end = cx.findings[i..]
                    .iter()
                    .position(|g| g.severity != severity)
                    .map_or(cx.findings.len(), |p| i + p);
                let color = severity_color(cx, severity);
                let header = RichText::new(format!("● {} ({})", severity.as_str(), end - i))
                    .color(color)
                    .strong();
                let holds_reveal = reveal.is_some_and(|r| (i..end).contains(&r));
                egui::CollapsingHeader::new(header)
                    .id_salt(("finding-group", severity))
                    .default_open(true)
                    // A finding selected elsewhere opens its group.
                    .open(holds_reveal.then_some(true))
                    .show(ui, |ui| {
                        for (k, f) in cx.findings[i..end].iter().enumerate() {
                            let idx = i + k;
                            let r = row(ui, cx, idx, f, cmds);
                            if reveal == Some(idx) {
                                r.scroll_to_me(Some(egui::Align::Center));
                            }
                        }
                    });
                i = end;
            }
        });
}

/// One finding: its index and kind, its title (the click target), and, when selected, what
/// it means.
fn row(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    idx: usize,
    f: &Finding,
    cmds: &mut Vec<Command>,
) -> egui::Response {
    let selected = cx.selected_finding == Some(idx);
    let top = ui.label(
        RichText::new(format!(
            "#{idx} · {} · {} {}",
            f.kind.as_str(),
            super::fmt_count(f.count),
            f.kind.count_unit(f.count)
        ))
        .color(cx.theme.text_weak),
    );
    let title = ui
        .add(egui::Button::selectable(selected, RichText::new(&f.title)).wrap())
        .on_hover_text(&f.detail);
    if title.clicked() {
        cmds.push(Command::SelectFinding(idx));
    }
    let mut r = top.union(title);
    if selected {
        r = r.union(
            ui.add(egui::Label::new(RichText::new(&f.detail).color(cx.theme.text_weak)).wrap()),
        );
    }
    ui.add_space(4.0);
    r
}

fn severity_color(cx: &ViewCtx<'_>, s: Severity) -> egui::Color32 {
    match s {
        Severity::Error => cx.theme.error,
        Severity::Warning => cx.theme.warn,
        Severity::Info => cx.theme.accent,
    }
}

/// What the panel says when there is nothing to list: "yet" only while more may come.
fn no_findings(cx: &ViewCtx<'_>) -> String {
    let loaded = !cx.store.inputs.is_empty() || !cx.load_failures.is_empty();
    if cx.live || !loaded {
        "No findings yet.".into()
    } else if cx.store.observations.is_empty() {
        "No findings: there are no events to analyse.".into()
    } else {
        format!(
            "No findings in {} observations.",
            super::fmt_count(cx.store.observations.len() as u64)
        )
    }
}

/// What selecting a finding does.
pub fn selection_of(f: &Finding) -> Selection {
    if let Some(&e) = f.events.first() {
        Selection::Event(e)
    } else if let Some(&(a, b)) = f.edge_ids.first() {
        Selection::Edge(a, b)
    } else if let Some(&n) = f.node_ids.first() {
        Selection::Node(n)
    } else {
        Selection::None
    }
}
