//! The design system: colours, spacing and the dark/light visuals, so every panel looks like
//! the same product and a theme change is one edit here.

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
pub const NODE_W: f32 = 156.0;
pub const NODE_H: f32 = 58.0;
pub const CORNER: u8 = 6;
pub const PANEL_LEFT_W: f32 = 260.0;
pub const PANEL_RIGHT_W: f32 = 350.0;
pub const TIMELINE_H: f32 = 190.0;
pub const BOTTOM_TABS_H: f32 = 250.0;

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
                dark: true,
                canvas: Color32::from_rgb(22, 24, 29),
                grid: Color32::from_rgb(34, 37, 44),
                text: Color32::from_rgb(220, 223, 228),
                text_weak: Color32::from_rgb(140, 146, 156),
                accent: Color32::from_rgb(86, 156, 214),
                cursor: Color32::from_rgb(255, 196, 64),
                ok: Color32::from_rgb(98, 190, 120),
                warn: Color32::from_rgb(230, 170, 60),
                error: Color32::from_rgb(235, 87, 87),
                edge: Color32::from_rgb(110, 120, 135),
                call: Color32::from_rgb(150, 140, 110),
                dot: Color32::from_rgb(120, 200, 255),
                highlight: Color32::from_rgb(255, 196, 64),
                selection: Color32::from_rgb(120, 180, 255),
                node_fill: Color32::from_rgb(38, 42, 50),
            },
            ThemeChoice::Light => Theme {
                dark: false,
                canvas: Color32::from_rgb(248, 249, 251),
                grid: Color32::from_rgb(232, 235, 240),
                text: Color32::from_rgb(30, 33, 38),
                text_weak: Color32::from_rgb(100, 106, 116),
                accent: Color32::from_rgb(30, 110, 200),
                cursor: Color32::from_rgb(210, 120, 0),
                ok: Color32::from_rgb(40, 150, 70),
                warn: Color32::from_rgb(200, 130, 0),
                error: Color32::from_rgb(210, 50, 50),
                edge: Color32::from_rgb(140, 148, 160),
                call: Color32::from_rgb(150, 125, 70),
                dot: Color32::from_rgb(20, 120, 220),
                highlight: Color32::from_rgb(220, 120, 0),
                selection: Color32::from_rgb(30, 110, 200),
                node_fill: Color32::from_rgb(255, 255, 255),
            },
        }
    }

    /// The accent colour of a node kind (its outline and icon).
    pub fn node_color(&self, kind: NodeKind) -> Color32 {
        let (d, l) = match kind {
            NodeKind::Service => ((150, 160, 175), (95, 105, 120)),
            NodeKind::Producer => ((86, 156, 214), (30, 110, 200)),
            NodeKind::Channel => ((197, 134, 192), (150, 70, 160)),
            NodeKind::Handler => ((78, 201, 176), (20, 140, 120)),
            NodeKind::Store => ((220, 170, 90), (170, 110, 20)),
            NodeKind::DeadLetter => ((235, 87, 87), (210, 50, 50)),
        };
        let (r, g, b) = if self.dark { d } else { l };
        Color32::from_rgb(r, g, b)
    }

    /// Colour for an error rate in 0..=1.
    pub fn error_rate_color(&self, rate: f64) -> Color32 {
        if rate <= 0.0 {
            self.edge
        } else if rate < 0.02 {
            self.ok
        } else if rate < 0.08 {
            self.warn
        } else {
            self.error
        }
    }

    /// Colour for a p95 latency in milliseconds.
    pub fn latency_color(&self, p95_ms: f64) -> Color32 {
        if p95_ms < 20.0 {
            self.ok
        } else if p95_ms < 100.0 {
            self.warn
        } else {
            self.error
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
