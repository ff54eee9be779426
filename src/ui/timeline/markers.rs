//! Finding markers on the timeline, merged where they crowd: one marker per cluster, in
//! the colour of its worst finding, with its count.

use super::severity_color;
use crate::ui::findings::Severity;
use crate::ui::{ViewCtx, fmt_count};
use egui::{Align2, RichText};
use egui_plot::{MarkerShape, PlotPoint, PlotUi, Points, Text};

/// Nearby finding markers merged into one.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MarkerCluster {
    /// Where it is drawn: its first marker (seconds since the origin).
    pub x: f64,
    /// The most severe of its findings.
    pub severity: Severity,
    /// Its findings (indices), in time order.
    pub findings: Vec<usize>,
}

/// Merges markers (x, severity, finding), sorted by x, that lie within `gap` of the first
/// marker of their cluster.
pub(crate) fn cluster_markers(marks: &[(f64, Severity, usize)], gap: f64) -> Vec<MarkerCluster> {
    let mut out: Vec<MarkerCluster> = Vec::new();
    for &(x, sev, i) in marks {
        match out.last_mut() {
            Some(c) if x - c.x < gap => {
                c.severity = c.severity.min(sev);
                c.findings.push(i);
            }
            _ => out.push(MarkerCluster {
                x,
                severity: sev,
                findings: vec![i],
            }),
        }
    }
    out
}

/// Draws the clusters at height `y` (plot units); `px` is one point of width in seconds.
pub(super) fn draw(
    plot: &mut PlotUi<'_>,
    cx: &ViewCtx<'_>,
    clusters: &[MarkerCluster],
    x0: f64,
    y: f64,
    px: f64,
) {
    for c in clusters {
        let color = severity_color(cx, c.severity);
        let selected = cx.selected_finding.is_some_and(|s| c.findings.contains(&s));
        plot.points(
            Points::new("", vec![[c.x.max(x0), y]])
                .shape(MarkerShape::Down)
                .filled(true)
                .radius(if selected { 6.5 } else { 5.0 })
                .color(color)
                .allow_hover(false),
        );
        if c.findings.len() > 1 {
            plot.text(
                Text::new(
                    "",
                    PlotPoint::new(c.x.max(x0) + 6.0 * px, y),
                    RichText::new(fmt_count(c.findings.len() as u64))
                        .small()
                        .color(color),
                )
                .anchor(Align2::LEFT_CENTER)
                .allow_hover(false),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowded_markers_merge_into_one_with_their_count_and_worst_severity() {
        let marks: Vec<(f64, Severity, usize)> = (0..194)
            .map(|i| {
                (
                    10.0 + i as f64 * 0.01,
                    if i == 7 {
                        Severity::Error
                    } else {
                        Severity::Info
                    },
                    i,
                )
            })
            .chain([(50.0, Severity::Warning, 194)])
            .collect();
        let c = cluster_markers(&marks, 1.0);
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(c[0].findings.len() + c[1].findings.len(), 194);
        assert_eq!(c[0].severity, Severity::Error);
        assert_eq!(c[2].findings, vec![194]);
        assert_eq!(c[2].severity, Severity::Warning);
    }
}
