//! The diagram's colours and scales, shared by the app's painter (`ui::theme` resolves them
//! to egui colours) and the SVG writer: the dark and light palettes, and the steps where an
//! edge turns from ok to warn to error by its failed share or its p95 latency.
//!
//! It knows nothing of egui: colours are plain RGB.

use crate::model::NodeKind;

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// Failed shares where an edge turns from ok to warn to error colour.
pub const ERROR_RATE_STEPS: [f64; 2] = [0.02, 0.08];
/// p95 latencies (ms) where an edge turns from ok to warn to error colour.
pub const LATENCY_STEPS_MS: [f64; 2] = [20.0, 100.0];

/// What an edge's colour says; the palette resolves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdgeClass {
    /// Nothing to say (no failures, or no latency measured).
    Neutral,
    Ok,
    Warn,
    Error,
    /// A synchronous call (dashed).
    Call,
    /// Declared by a broker, nothing seen on it yet (dashed, muted).
    Declared,
}

impl EdgeClass {
    /// The class of a failed share in 0..=1.
    pub fn of_error_rate(rate: f64) -> EdgeClass {
        let [low, high] = ERROR_RATE_STEPS;
        if rate <= 0.0 {
            EdgeClass::Neutral
        } else if rate < low {
            EdgeClass::Ok
        } else if rate < high {
            EdgeClass::Warn
        } else {
            EdgeClass::Error
        }
    }

    /// The class of a p95 latency in milliseconds.
    pub fn of_latency(p95_ms: f64) -> EdgeClass {
        let [low, high] = LATENCY_STEPS_MS;
        if p95_ms < low {
            EdgeClass::Ok
        } else if p95_ms < high {
            EdgeClass::Warn
        } else {
            EdgeClass::Error
        }
    }

    /// Drawn dashed.
    pub fn dashed(self) -> bool {
        matches!(self, EdgeClass::Call | EdgeClass::Declared)
    }

    /// A CSS class name (`edge-ok`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EdgeClass::Neutral => "neutral",
            EdgeClass::Ok => "ok",
            EdgeClass::Warn => "warn",
            EdgeClass::Error => "error",
            EdgeClass::Call => "call",
            EdgeClass::Declared => "declared",
        }
    }
}

/// What a line of text is: the palette gives its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextClass {
    Normal,
    Weak,
    Warn,
    Error,
    /// A node kind's tag (`channel`, `λ handler`), in the kind's colour.
    Kind(NodeKind),
}

/// The diagram colours of one theme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    pub dark: bool,
    pub canvas: Rgb,
    pub text: Rgb,
    pub text_weak: Rgb,
    pub ok: Rgb,
    pub warn: Rgb,
    pub error: Rgb,
    pub edge: Rgb,
    pub call: Rgb,
    pub node_fill: Rgb,
}

impl Palette {
    /// The app's default theme.
    pub const DARK: Palette = Palette {
        dark: true,
        canvas: Rgb(22, 24, 29),
        text: Rgb(220, 223, 228),
        text_weak: Rgb(140, 146, 156),
        ok: Rgb(98, 190, 120),
        warn: Rgb(230, 170, 60),
        error: Rgb(235, 87, 87),
        edge: Rgb(110, 120, 135),
        call: Rgb(150, 140, 110),
        node_fill: Rgb(38, 42, 50),
    };

    pub const LIGHT: Palette = Palette {
        dark: false,
        canvas: Rgb(248, 249, 251),
        text: Rgb(30, 33, 38),
        text_weak: Rgb(100, 106, 116),
        ok: Rgb(40, 150, 70),
        warn: Rgb(200, 130, 0),
        error: Rgb(210, 50, 50),
        edge: Rgb(140, 148, 160),
        call: Rgb(150, 125, 70),
        node_fill: Rgb(255, 255, 255),
    };

    /// The accent colour of a node kind (its outline and tag).
    pub fn node(&self, kind: NodeKind) -> Rgb {
        let (d, l) = match kind {
            NodeKind::Service => (Rgb(150, 160, 175), Rgb(95, 105, 120)),
            NodeKind::Producer => (Rgb(86, 156, 214), Rgb(30, 110, 200)),
            NodeKind::Channel => (Rgb(197, 134, 192), Rgb(150, 70, 160)),
            NodeKind::Handler => (Rgb(78, 201, 176), Rgb(20, 140, 120)),
            NodeKind::Store => (Rgb(220, 170, 90), Rgb(170, 110, 20)),
            NodeKind::DeadLetter => (Rgb(235, 87, 87), Rgb(210, 50, 50)),
        };
        if self.dark { d } else { l }
    }

    /// The colour of an edge class.
    pub fn edge(&self, class: EdgeClass) -> Rgb {
        match class {
            EdgeClass::Neutral => self.edge,
            EdgeClass::Ok => self.ok,
            EdgeClass::Warn => self.warn,
            EdgeClass::Error => self.error,
            EdgeClass::Call => self.call,
            EdgeClass::Declared => self.text_weak,
        }
    }

    /// The colour of a text class.
    pub fn text(&self, class: TextClass) -> Rgb {
        match class {
            TextClass::Normal => self.text,
            TextClass::Weak => self.text_weak,
            TextClass::Warn => self.warn,
            TextClass::Error => self.error,
            TextClass::Kind(k) => self.node(k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_step_where_the_legend_says() {
        assert_eq!(EdgeClass::of_error_rate(0.0), EdgeClass::Neutral);
        assert_eq!(EdgeClass::of_error_rate(0.01), EdgeClass::Ok);
        assert_eq!(EdgeClass::of_error_rate(0.05), EdgeClass::Warn);
        assert_eq!(EdgeClass::of_error_rate(0.5), EdgeClass::Error);
        assert_eq!(EdgeClass::of_latency(5.0), EdgeClass::Ok);
        assert_eq!(EdgeClass::of_latency(50.0), EdgeClass::Warn);
        assert_eq!(EdgeClass::of_latency(150.0), EdgeClass::Error);
        assert_eq!(Palette::DARK.canvas.hex(), "#16181d");
    }
}
