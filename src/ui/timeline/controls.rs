//! The timeline's controls row: replay (start, step, play, end), previous/next finding,
//! speed, loop, follow live; the cursor as seconds and wall clock; which clock; which
//! series the plot shows.

use super::{TimelineView, kind_glyph};
use crate::analysis::series::{FlowKind, Grouping};
use crate::replay::{PlayState, SPEEDS, TimeCommand};
use crate::ui::plot_axes::{self, Clock};
use crate::ui::{Command, ViewCtx, fmt_count};
use egui::RichText;

pub fn controls(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    view: &mut TimelineView,
    cmds: &mut Vec<Command>,
) {
    let tc = cx.time_ctl;
    let mut pending: Vec<TimeCommand> = Vec::new();
    let mut time = |c: TimeCommand| pending.push(c);
    let mut other: Vec<Command> = Vec::new();
    let cmds_outer = &mut *cmds;
    let cmds = &mut other;
    ui.horizontal(|ui| {
        if ui
            .button("⏮")
            .on_hover_text("To the start (Home)")
            .clicked()
        {
            time(TimeCommand::Home);
        }
        if ui
            .button("◀ Step")
            .on_hover_text("One event back (Left)")
            .clicked()
        {
            time(TimeCommand::StepBack);
        }
        let playing = tc.state == PlayState::Playing;
        let label = if playing { "⏸ Pause" } else { "▶ Play" };
        if ui
            .button(label)
            .on_hover_text("Play or pause (Space)")
            .clicked()
        {
            time(TimeCommand::TogglePlay);
        }
        if ui
            .button("Step ▶")
            .on_hover_text("One event forward (Right)")
            .clicked()
        {
            time(TimeCommand::StepForward);
        }
        if ui.button("⏭").on_hover_text("To the end (End)").clicked() {
            time(TimeCommand::End);
        }
        ui.separator();
        if ui
            .button("◀ Finding")
            .on_hover_text("Jump to the previous finding")
            .clicked()
        {
            cmds.push(Command::JumpFinding(-1));
        }
        if ui
            .button("Finding ▶")
            .on_hover_text("Jump to the next finding")
            .clicked()
        {
            cmds.push(Command::JumpFinding(1));
        }
        ui.separator();
        let mut speed = tc.speed;
        egui::ComboBox::new("speed", "speed")
            .selected_text(format!("{}x", speed))
            .width(64.0)
            .show_ui(ui, |ui| {
                for s in SPEEDS {
                    ui.selectable_value(&mut speed, s, format!("{s}x"));
                }
            });
        if speed != tc.speed {
            cmds.push(Command::Time(TimeCommand::SetSpeed(speed)));
        }
        ui.separator();
        let looping = tc.loop_range.is_some();
        if ui
            .selectable_label(looping, "⟲ Loop")
            .on_hover_text(
                "Loop the selected finding's range, or the last 10 s before the cursor \
                 (or shift-drag a range on the plot)",
            )
            .clicked()
        {
            let range = if looping {
                None
            } else {
                let f = cx.selected_finding.and_then(|i| cx.findings.get(i));
                match f
                    .and_then(|f| Some((f.first?, f.last?)))
                    .filter(|(a, b)| b > a)
                {
                    Some(r) => Some(r),
                    None => Some((cx.time - 10_000_000_000, cx.time)),
                }
            };
            cmds.push(Command::Time(TimeCommand::SetLoop(range)));
        }
        if cx.live {
            let following = tc.state == PlayState::Following;
            let txt = RichText::new("● Follow live").color(if following {
                cx.theme.error
            } else {
                cx.theme.text_weak
            });
            if ui
                .selectable_label(following, txt)
                .on_hover_text("Stick to the newest events")
                .clicked()
            {
                cmds.push(Command::Time(if following {
                    TimeCommand::Pause
                } else {
                    TimeCommand::Follow
                }));
            }
        }
        ui.separator();
        let total = cx.store.observations.len();
        let clock_time = plot_axes::clock_full(cx.time, view.clock);
        ui.label(
            RichText::new(format!(
                "t = {:.3} s · {}  ·  {} / {} observations",
                cx.secs(cx.time),
                clock_time.get(11..).unwrap_or(""),
                fmt_count(cx.cursor_n as u64),
                fmt_count(total as u64)
            ))
            .monospace(),
        )
        .on_hover_text(format!("the cursor: {clock_time}"));
        for c in [Clock::Utc, Clock::Local] {
            if ui
                .selectable_label(view.clock == c, RichText::new(c.name()).small())
                .on_hover_text("The wall clock of the time axes")
                .clicked()
            {
                view.clock = c;
            }
        }
        if let Some((a, b)) = tc.loop_range {
            ui.label(
                RichText::new(format!("loop {:.1}–{:.1} s", cx.secs(a), cx.secs(b)))
                    .small()
                    .color(cx.theme.text_weak),
            );
        }
        ui.separator();
        series_menu(ui, cx, view);
    });
    cmds_outer.extend(pending.into_iter().map(Command::Time));
    cmds_outer.append(&mut other);
}

/// Which series the plot shows: per channel or per handler, and which kinds (each with
/// its line style).
fn series_menu(ui: &mut egui::Ui, cx: &ViewCtx<'_>, view: &mut TimelineView) {
    let shown = FlowKind::ALL
        .iter()
        .zip(view.kinds)
        .filter(|(k, on)| {
            *on && !(view.grouping == Grouping::Handler && **k == FlowKind::Published)
        })
        .count();
    let per = match view.grouping {
        Grouping::Channel => "per channel",
        Grouping::Handler => "per handler",
    };
    egui::ComboBox::new("timeline-series", "series")
        .selected_text(format!("{per} · {shown} kinds"))
        .width(150.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut view.grouping, Grouping::Channel, "per channel");
            ui.selectable_value(&mut view.grouping, Grouping::Handler, "per handler");
            ui.separator();
            for (i, kind) in FlowKind::ALL.iter().enumerate() {
                if view.grouping == Grouping::Handler && *kind == FlowKind::Published {
                    continue;
                }
                let color = match kind {
                    FlowKind::Failed | FlowKind::DeadLettered => cx.theme.error,
                    FlowKind::Retried => cx.theme.warn,
                    _ => cx.theme.text,
                };
                let text =
                    RichText::new(format!("{} {}", kind_glyph(*kind), kind.as_str())).color(color);
                ui.checkbox(&mut view.kinds[i], text);
            }
        });
}
