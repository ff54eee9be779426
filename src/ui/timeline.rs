//! The timeline (bottom): replay controls and the event rate per channel over time, with
//! findings marked and the cursor; click or drag on the plot to move the cursor. Keys:
//! Space play/pause, Left/Right step, Home/End.

use super::{Command, ViewCtx, fmt_count};
use crate::replay::{PlayState, SPEEDS, TimeCommand};
use egui::RichText;
use egui_plot::{Corner, HoverPosition, Legend, Line, Plot, PlotPoints, Span, VLine};

pub fn controls(ui: &mut egui::Ui, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
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
            .on_hover_text("Loop the selected finding's range, or the last 10 s before the cursor")
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
        ui.label(
            RichText::new(format!(
                "t = {:.3} s  ·  {} / {} observations",
                cx.secs(cx.time),
                fmt_count(cx.cursor_n as u64),
                fmt_count(total as u64)
            ))
            .monospace(),
        );
        if let Some((a, b)) = tc.loop_range {
            ui.label(
                RichText::new(format!("loop {:.1}–{:.1} s", cx.secs(a), cx.secs(b)))
                    .small()
                    .color(cx.theme.text_weak),
            );
        }
    });
    cmds_outer.extend(pending.into_iter().map(Command::Time));
    cmds_outer.append(&mut other);
}

pub fn plot(ui: &mut egui::Ui, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
    let span = cx.store.last_time().map_or(1.0, |l| cx.secs(l)).max(0.001);
    let theme = cx.theme;
    let resp = Plot::new("rates")
        .height(ui.available_height().max(60.0))
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .include_x(0.0)
        .include_x(span)
        .include_y(0.0)
        .y_axis_min_width(36.0)
        .legend(Legend::default().position(Corner::LeftTop))
        .x_axis_formatter(|m, range| {
            let span = range.end() - range.start();
            let decimals = if span < 0.05 {
                4
            } else if span < 2.0 {
                2
            } else {
                1
            };
            format!("{:.*} s", decimals, m.value)
        })
        .label_formatter(|h| {
            let p = match h {
                HoverPosition::NearDataPoint { position, .. } => position,
                HoverPosition::Elsewhere { position } => position,
            };
            Some(format!("{:.3} s\n{:.1} events/s", p.x, p.y))
        })
        .show(ui, |plot| {
            for (i, r) in cx.derived.rates.iter().enumerate() {
                let color = if r.dead_letter {
                    theme.error
                } else {
                    theme.series(i)
                };
                plot.line(
                    Line::new(format!("{} /s", r.name), PlotPoints::from(r.points.clone()))
                        .color(color)
                        .width(1.5),
                );
            }
            for (i, f) in cx.findings.iter().enumerate() {
                let Some(first) = f.first else { continue };
                let color = match f.severity {
                    super::findings::Severity::Error => theme.error,
                    super::findings::Severity::Warning => theme.warn,
                    super::findings::Severity::Info => theme.accent,
                };
                let selected = cx.selected_finding == Some(i);
                if selected && let Some(last) = f.last.filter(|&l| l > first) {
                    plot.span(
                        Span::new("", cx.secs(first)..=cx.secs(last))
                            .fill(color.gamma_multiply(0.15)),
                    );
                }
                plot.vline(
                    VLine::new("", cx.secs(first))
                        .color(color.gamma_multiply(if selected { 1.0 } else { 0.45 }))
                        .width(1.0),
                );
            }
            if let Some((a, b)) = cx.time_ctl.loop_range {
                plot.span(
                    Span::new("", cx.secs(a)..=cx.secs(b)).fill(theme.accent.gamma_multiply(0.12)),
                );
            }
            plot.vline(
                VLine::new("", cx.secs(cx.time))
                    .color(theme.cursor)
                    .width(2.0),
            );
        });
    let r = &resp.response;
    if (r.clicked() || r.dragged())
        && let Some(p) = r.interact_pointer_pos()
    {
        let x = resp.transform.value_from_position(p).x;
        let t = cx.origin + (x * 1e9) as i64;
        cmds.push(Command::Time(TimeCommand::SetTime(t)));
    }
}
