//! The design system: colours, spacing and the dark/light visuals, so every panel looks like
//! the same product and a theme change is one edit here.

use crate::export::style::{EdgeClass, Palette, Rgb, TextClass};
use crate::model::NodeKind;
use egui::{Color32, CornerRadius, Stroke, Visuals};

/// The user's theme choice (persisted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

/// Design tokens of one theme.
#[derive(Clone, Debug)]
pub struct Theme {
    pub dark: bool,
    /// The diagram colours this theme's graph colours come from (shared with the SVG
    /// export, see [`crate::export::style`]).
    pub palette: Palette,
    pub canvas: Color32,
    pub grid: Color32,
    pub text: Color32,
    pub text_weak: Color32,
    pub accent: Color32,
    pub cursor: Color32,
    pub ok: Color32,
    pub warn: Color32,
    pub error: Color32,
    pub edge: Color32,
    /// Synchronous calls (HTTP, gRPC, store access outside event handling), drawn dashed.
    pub call: Color32,
    pub dot: Color32,
    pub highlight: Color32,
    pub selection: Color32,
    pub node_fill: Color32,
}

/// Spacing tokens.
pub const PAD: f32 = 8.0;
pub use crate::export::scene::{NODE_H, NODE_W};
pub const CORNER: u8 = 6;
pub const PANEL_LEFT_W: f32 = 260.0;
pub const PANEL_RIGHT_W: f32 = 350.0;
pub const TIMELINE_H: f32 = 190.0;
pub const BOTTOM_TABS_H: f32 = 250.0;

pub use crate::export::style::{ERROR_RATE_STEPS, LATENCY_STEPS_MS};

/// An engine colour as an egui colour.
pub fn rgb(c: Rgb) -> Color32 {
    Color32::from_rgb(c.0, c.1, c.2)
}

/// A palette of distinct series colours (plots, channels).
pub const SERIES: [Color32; 6] = [
    Color32::from_rgb(86, 156, 214),
    Color32::from_rgb(78, 201, 176),
    Color32::from_rgb(220, 170, 90),
    Color32::from_rgb(197, 134, 192),
    Color32::from_rgb(206, 145, 120),
    Color32::from_rgb(156, 220, 254),
];

impl Theme {
    pub fn new(choice: ThemeChoice) -> Theme {
        match choice {
            ThemeChoice::Dark => Theme {
                grid: Color32::from_rgb(34, 37, 44),
                accent: Color32::from_rgb(86, 156, 214),
                cursor: Color32::from_rgb(255, 196, 64),
                dot: Color32::from_rgb(120, 200, 255),
                highlight: Color32::from_rgb(255, 196, 64),
                selection: Color32::from_rgb(120, 180, 255),
                ..Theme::of_palette(Palette::DARK)
            },
            ThemeChoice::Light => Theme {
                grid: Color32::from_rgb(232, 235, 240),
                accent: Color32::from_rgb(30, 110, 200),
                cursor: Color32::from_rgb(210, 120, 0),
                dot: Color32::from_rgb(20, 120, 220),
                highlight: Color32::from_rgb(220, 120, 0),
                selection: Color32::from_rgb(30, 110, 200),
                ..Theme::of_palette(Palette::LIGHT)
            },
        }
    }

    /// The palette's colours; the app's own tokens (grid, accent, cursor...) to be set.
    fn of_palette(p: Palette) -> Theme {
        Theme {
            dark: p.dark,
            palette: p,
            canvas: rgb(p.canvas),
            grid: rgb(p.canvas),
            text: rgb(p.text),
            text_weak: rgb(p.text_weak),
            accent: rgb(p.text),
            cursor: rgb(p.warn),
            ok: rgb(p.ok),
            warn: rgb(p.warn),
            error: rgb(p.error),
            edge: rgb(p.edge),
            call: rgb(p.call),
            dot: rgb(p.text),
            highlight: rgb(p.warn),
            selection: rgb(p.text),
            node_fill: rgb(p.node_fill),
        }
    }

    /// The colour of an edge class.
    pub fn edge_color(&self, class: EdgeClass) -> Color32 {
        rgb(self.palette.edge(class))
    }

    /// The colour of a text class.
    pub fn text_color(&self, class: TextClass) -> Color32 {
        rgb(self.palette.text(class))
    }

    /// The accent colour of a node kind (its outline and icon).
    pub fn node_color(&self, kind: NodeKind) -> Color32 {
        rgb(self.palette.node(kind))
    }

    /// Colour for an error rate in 0..=1.
    pub fn error_rate_color(&self, rate: f64) -> Color32 {
        self.edge_color(EdgeClass::of_error_rate(rate))
    }

    /// Colour for a p95 latency in milliseconds.
    pub fn latency_color(&self, p95_ms: f64) -> Color32 {
        self.edge_color(EdgeClass::of_latency(p95_ms))
    }

    /// The edge colours of a colouring with what each means, for the graph's legend: the
    /// same steps as [`Self::error_rate_color`] and [`Self::latency_color`].
    pub fn edge_legend(&self, by: super::ColorBy) -> Vec<(Color32, String)> {
        match by {
            super::ColorBy::Errors => {
                let [low, high] = ERROR_RATE_STEPS.map(|r| r * 100.0);
                vec![
                    (self.edge, "none".into()),
                    (self.ok, format!("under {low:.0}%")),
                    (self.warn, format!("{low:.0}–{high:.0}%")),
                    (self.error, format!("{high:.0}% or more, dead letters")),
                ]
            }
            super::ColorBy::Latency => {
                let [low, high] = LATENCY_STEPS_MS;
                vec![
                    (self.ok, format!("under {low:.0} ms")),
                    (self.warn, format!("{low:.0}–{high:.0} ms")),
                    (self.error, format!("{high:.0} ms or more")),
                    (self.edge, "none measured".into()),
                ]
            }
        }
    }

    pub fn series(&self, i: usize) -> Color32 {
        SERIES[i % SERIES.len()]
    }

    pub fn visuals(&self) -> Visuals {
        let mut v = if self.dark {
            Visuals::dark()
        } else {
            Visuals::light()
        };
        v.selection.bg_fill = self.selection.gamma_multiply(0.5);
        v.selection.stroke = Stroke::new(1.0, self.text);
        v.hyperlink_color = self.accent;
        v.window_corner_radius = CornerRadius::same(CORNER);
        v
    }

    /// Makes the monospace font a fallback of the proportional one, so arrows and shapes
    /// (→ ● ▶ ■) that Ubuntu lacks render everywhere.
    pub fn install_fonts(ctx: &egui::Context) {
        let mut fonts = egui::FontDefinitions::default();
        let mono = fonts
            .families
            .get(&egui::FontFamily::Monospace)
            .and_then(|f| f.first().cloned());
        if let (Some(mono), Some(prop)) = (
            mono,
            fonts.families.get_mut(&egui::FontFamily::Proportional),
        ) {
            prop.insert(1.min(prop.len()), mono);
        }
        ctx.set_fonts(fonts);
    }

    /// Applies the visuals and spacing to a context.
    pub fn apply(&self, ctx: &egui::Context) {
        let t = if self.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        };
        ctx.set_theme(t);
        ctx.set_visuals_of(t, self.visuals());
        ctx.all_styles_mut(|s| {
            s.spacing.item_spacing = egui::vec2(8.0, 5.0);
            s.spacing.button_padding = egui::vec2(7.0, 3.0);
        });
    }
}
