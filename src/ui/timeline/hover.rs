//! What hovering the timeline reads: the data of every series in the hovered bin (the
//! nearest to the pointer first and in bold), the bin's time, and the findings under the
//! pointer. Never the pointer's own height.

use super::markers::MarkerCluster;
use super::{Drawn, severity_color};
use crate::analysis::series::{FlowTimeline, fmt_rate, fmt_window};
use crate::ui::plot_axes::{self, Clock};
use crate::ui::{ViewCtx, fmt_count};
use egui::RichText;

/// What the pointer is over, for the tooltip.
pub(super) struct Hover {
    pub(super) bin: usize,
    /// Events per second at the pointer's height.
    pub(super) rate: f64,
    /// Marker clusters within reach of the pointer.
    pub(super) cluster: Option<MarkerCluster>,
}

/// The series whose drawn band (low..=peak) at one bin is nearest to `y`; inside a band
/// is distance 0, and ties go to the higher peak. `None` when no series has data there.
pub(crate) fn nearest_series(values: &[Option<(f64, f64)>], y: f64) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|(lo, hi)| (i, lo, hi)))
        .map(|(i, lo, hi)| {
            let d = if y < lo {
                lo - y
            } else if y > hi {
                y - hi
            } else {
                0.0
            };
            (i, d, hi)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1).then(b.2.total_cmp(&a.2)))
        .map(|(i, _, _)| i)
}

/// The tooltip: the hovered bin's time, then each series' figures there, the nearest to
/// the pointer first; findings under the pointer.
pub(super) fn hover_ui(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    flow: &FlowTimeline,
    drawn: &[Drawn<'_>],
    h: &Hover,
    clock: Clock,
) {
    let values: Vec<Option<(f64, f64)>> = drawn
        .iter()
        .map(|d| {
            d.bins
                .get(h.bin)
                .copied()
                .flatten()
                .map(|b| (flow.per_sec(b.low), flow.per_sec(b.peak)))
        })
        .collect();
    let span = drawn
        .iter()
        .find_map(|d| d.bins.get(h.bin).copied().flatten());
    if let Some(b) = span {
        ui.label(
            RichText::new(format!(
                "{} – {}",
                plot_axes::clock_full(b.from, clock),
                plot_axes::clock_full(b.to, clock).get(11..).unwrap_or("")
            ))
            .small(),
        );
        ui.label(
            RichText::new(format!(
                "+{:.3} s – +{:.3} s · rates per {} window",
                cx.secs(b.from),
                cx.secs(b.to),
                fmt_window(flow.window)
            ))
            .small()
            .color(cx.theme.text_weak),
        );
    }
    let nearest = nearest_series(&values, h.rate);
    let mut order: Vec<usize> = (0..drawn.len()).filter(|&i| values[i].is_some()).collect();
    order.sort_by_key(|&i| (Some(i) != nearest, i));
    for i in order {
        let (d, Some(b)) = (&drawn[i], drawn[i].bins.get(h.bin).copied().flatten()) else {
            continue;
        };
        let text = format!(
            "{}: peak {} · low {} · {} events",
            d.name,
            fmt_rate(flow.per_sec(b.peak)),
            fmt_rate(flow.per_sec(b.low)),
            fmt_count(b.events)
        );
        let mut rt = RichText::new(text).color(d.color);
        if Some(i) == nearest {
            rt = rt.strong();
        }
        ui.label(rt);
    }
    if let Some(c) = &h.cluster {
        ui.separator();
        ui.label(RichText::new(format!("{} findings here", c.findings.len())).small());
        for &i in c.findings.iter().take(5) {
            if let Some(f) = cx.findings.get(i) {
                ui.label(
                    RichText::new(&f.title)
                        .small()
                        .color(severity_color(cx, f.severity)),
                );
            }
        }
        if c.findings.len() > 5 {
            ui.label(RichText::new(format!("+{} more", c.findings.len() - 5)).small());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hover_reads_the_series_nearest_to_the_pointer_not_the_pointer_height() {
        // Three series at one bin: 0..2/s, 10..300/s (a burst), and no data.
        let values = [Some((0.0, 2.0)), Some((10.0, 300.0)), None];
        assert_eq!(nearest_series(&values, 1.0), Some(0));
        assert_eq!(nearest_series(&values, 150.0), Some(1));
        assert_eq!(nearest_series(&values, 7.0), Some(1));
        assert_eq!(nearest_series(&values, 5.0), Some(0));
        assert_eq!(nearest_series(&[None, None], 5.0), None);
        // Inside two bands: the higher peak wins.
        assert_eq!(
            nearest_series(&[Some((0.0, 50.0)), Some((0.0, 80.0))], 20.0),
            Some(1)
        );
    }
}
