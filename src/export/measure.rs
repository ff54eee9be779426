//! Text widths for the diagram's label boxes, measured with the font the app's graph draws
//! with: egui's default proportional font (Ubuntu Light), then its monospace font (Hack,
//! the app's first fallback, see `ui::theme::install_fonts`), read with skrifa (the font
//! reader egui and usvg use). The SVG names the same font first and the PNG renderer is
//! given it, so measured boxes fit the drawn text. Characters neither font has count as
//! one em, as a replacement box or a wide CJK glyph roughly does.

use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};
use std::sync::OnceLock;

/// The font family the SVG asks for first (the app's font), then fallbacks.
pub const FONT_FAMILY: &str = "Ubuntu, 'Ubuntu Light', 'DejaVu Sans', Arial, sans-serif";

/// Advances in font units per em of the app's fonts, for the characters they have.
struct Fonts {
    faces: Vec<FontRef<'static>>,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| Fonts {
        faces: [
            epaint_default_fonts::UBUNTU_LIGHT,
            epaint_default_fonts::HACK_REGULAR,
        ]
        .into_iter()
        .filter_map(|data| FontRef::new(data).ok())
        .collect(),
    })
}

/// The font data the widths are measured with (for a renderer to load), first the primary.
pub fn font_data() -> [&'static [u8]; 2] {
    [
        epaint_default_fonts::UBUNTU_LIGHT,
        epaint_default_fonts::HACK_REGULAR,
    ]
}

/// The advance of one character at `size` pixels per em.
fn advance(c: char, size: f32) -> f32 {
    for face in &fonts().faces {
        if let Some(g) = face.charmap().map(c) {
            let metrics = face.glyph_metrics(Size::new(size), LocationRef::default());
            if let Some(w) = metrics.advance_width(g) {
                return w;
            }
        }
    }
    size
}

/// The width of `text` on one line at `size` pixels per em.
pub fn text_width(text: &str, size: f32) -> f32 {
    text.chars().map(|c| advance(c, size)).sum()
}

/// The height of one line at `size` (as egui spaces rows of this font).
pub fn line_height(size: f32) -> f32 {
    size * 1.2
}

/// `text` shortened with an ellipsis to fit `max` pixels at `size` (whole when it fits).
pub fn elide_to(text: &str, size: f32, max: f32) -> String {
    if text_width(text, size) <= max {
        return text.to_string();
    }
    let budget = max - advance('…', size);
    let mut out = String::new();
    let mut w = 0.0;
    for c in text.chars() {
        let a = advance(c, size);
        if w + a > budget {
            break;
        }
        w += a;
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_come_from_the_font() {
        // Proportional: an `i` is narrower than an `M`; widths scale with the size.
        assert!(text_width("i", 12.0) < text_width("M", 12.0));
        let w = text_width("OrderPlaced", 12.0);
        assert!(w > 40.0 && w < 90.0, "{w}");
        assert!((text_width("OrderPlaced", 24.0) - 2.0 * w).abs() < 0.01);
        // A character neither font has is one em.
        assert!((text_width("東", 10.0) - 10.0).abs() < 0.01);
        let e = elide_to("a-very-long-service-name-indeed", 12.0, 80.0);
        assert!(e.ends_with('…') && text_width(&e, 12.0) <= 80.0, "{e}");
    }
}
