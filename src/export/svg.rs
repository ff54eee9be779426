//! The flow diagram as SVG (self-contained: inline styles, no external references, no
//! scripts) and as PNG (that SVG rendered with resvg).
//!
//! Names come from untrusted events: every text and attribute value is XML-escaped (`&`,
//! `<`, `>`, `"`, `'`), and control characters, which XML 1.0 cannot hold, become spaces
//! (text) or are dropped, so no name can end its element or start another.

use super::measure;
use super::scene::{CORNER, NodeShape, Point, Scene, SceneEdge, SceneNode, TextLine};
use super::style::Palette;
use std::fmt::Write;

/// XML text or attribute content: the five special characters as entities; control
/// characters (and the few code points XML 1.0 excludes) as spaces.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn f(v: f32) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

fn p(pt: Point) -> String {
    format!("{},{}", f(pt.x), f(pt.y))
}

/// The SVG document of `scene` in `palette`'s colours.
pub fn write(scene: &Scene, palette: &Palette) -> String {
    let b = scene.bounds;
    let (w, h) = (b.width().ceil().max(1.0), b.height().ceil().max(1.0));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{}\" height=\"{}\" viewBox=\"{} {} {} {}\">",
        f(w),
        f(h),
        f(b.min.x),
        f(b.min.y),
        f(w),
        f(h)
    );
    let _ = writeln!(
        s,
        "<rect class=\"canvas\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
        f(b.min.x),
        f(b.min.y),
        f(w),
        f(h),
        palette.canvas.hex()
    );
    // Edges under the nodes, labels over everything (as the app draws them).
    for (i, e) in scene.edges.iter().enumerate() {
        edge(&mut s, i, e, palette);
    }
    for n in &scene.nodes {
        node(&mut s, n, palette);
    }
    for (i, e) in scene.edges.iter().enumerate() {
        if let Some(l) = &e.label {
            let _ = writeln!(s, "<g class=\"edge-label\" id=\"label-{i}\">");
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"{}\" fill-opacity=\"0.92\"/>",
                f(l.rect.min.x),
                f(l.rect.min.y),
                f(l.rect.width()),
                f(l.rect.height()),
                palette.canvas.hex()
            );
            for line in &l.lines {
                text(&mut s, line, palette);
            }
            s.push_str("</g>\n");
        }
    }
    s.push_str("</svg>\n");
    s
}

fn text(s: &mut String, line: &TextLine, palette: &Palette) {
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" font-family=\"{}\" font-size=\"{}\" fill=\"{}\" xml:space=\"preserve\">{}</text>",
        f(line.rect.min.x),
        f(line.baseline()),
        measure::FONT_FAMILY,
        f(line.size),
        palette.text(line.class).hex(),
        xml_escape(&line.text)
    );
}

fn edge(s: &mut String, i: usize, e: &SceneEdge, palette: &Palette) {
    let color = palette.edge(e.class).hex();
    let mut d = String::new();
    if let Some(first) = e.path.first() {
        let _ = write!(d, "M{}", p(first[0]));
    }
    for seg in &e.path {
        let _ = write!(d, " C{} {} {}", p(seg[1]), p(seg[2]), p(seg[3]));
    }
    let dash = if e.class.dashed() {
        " stroke-dasharray=\"7 5\""
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "<g class=\"edge edge-{}\" id=\"edge-{i}\">",
        e.class.name()
    );
    let _ = writeln!(s, "<title>{}</title>", xml_escape(&e.title));
    let _ = writeln!(
        s,
        "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{}\"{dash}/>",
        f(e.width)
    );
    // The arrow head, as the app's.
    let (tip, dir) = e.arrow();
    let n = Point {
        x: -dir.y,
        y: dir.x,
    };
    let k = 6.0 + e.width;
    let corner = |side: f32| Point {
        x: tip.x - dir.x * k * 1.6 + n.x * k * 0.8 * side,
        y: tip.y - dir.y * k * 1.6 + n.y * k * 0.8 * side,
    };
    let _ = writeln!(
        s,
        "<polygon points=\"{} {} {}\" fill=\"{color}\"/>",
        p(tip),
        p(corner(1.0)),
        p(corner(-1.0))
    );
    s.push_str("</g>\n");
}

fn node(s: &mut String, n: &SceneNode, palette: &Palette) {
    let kind = palette.node(n.kind);
    let stroke = if n.declared_only {
        format!(
            "stroke=\"{}\" stroke-opacity=\"0.55\" stroke-width=\"1.2\"",
            kind.hex()
        )
    } else {
        format!("stroke=\"{}\" stroke-width=\"1.6\"", kind.hex())
    };
    let fill = if n.declared_only {
        "fill=\"none\"".to_string()
    } else {
        format!("fill=\"{}\"", palette.node_fill.hex())
    };
    let _ = writeln!(
        s,
        "<g class=\"node node-{}\" id=\"node-{}\">",
        n.kind.as_str(),
        n.id.0
    );
    let _ = writeln!(s, "<title>{}</title>", xml_escape(&n.full_name));
    let r = n.rect;
    match n.shape {
        NodeShape::Box | NodeShape::Handler => {
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" {fill} {stroke}/>",
                f(r.min.x + 0.8),
                f(r.min.y + 0.8),
                f(r.width() - 1.6),
                f(r.height() - 1.6),
                f(CORNER)
            );
            if n.shape == NodeShape::Handler {
                let x = r.min.x + 4.0;
                let _ = writeln!(
                    s,
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>",
                    f(x),
                    f(r.min.y + 4.0),
                    f(x),
                    f(r.max.y - 4.0),
                    kind.hex()
                );
            }
        }
        NodeShape::Queue | NodeShape::DeadLetter => {
            // A horizontal cylinder: the body, its round left end, its right end's face.
            let ry = r.height() / 2.0;
            let rx = 10.0;
            let (l, rr, cy) = (r.min.x + rx, r.max.x - rx, r.center().y);
            let _ = writeln!(
                s,
                "<path d=\"M{l_} {top} L{r_} {top} A{rx_} {ry_} 0 0 1 {r_} {bot} L{l_} {bot} A{rx_} {ry_} 0 0 1 {l_} {top} Z\" {fill} {stroke}/>",
                l_ = f(l),
                r_ = f(rr),
                top = f(r.min.y),
                bot = f(r.max.y),
                rx_ = f(rx),
                ry_ = f(ry)
            );
            let _ = writeln!(
                s,
                "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" fill=\"none\" {stroke}/>",
                f(rr),
                f(cy),
                f(rx),
                f(ry)
            );
            if n.shape == NodeShape::DeadLetter {
                let _ = writeln!(
                    s,
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>",
                    f(l),
                    f(rr),
                    palette.error.hex(),
                    y = f(r.max.y + 4.0)
                );
            }
        }
        NodeShape::Database => {
            // A vertical cylinder: the body with its round bottom, the top's face.
            let ry = 7.0;
            let rx = r.width() / 2.0;
            let (top, bot) = (r.min.y + ry, r.max.y - ry);
            let _ = writeln!(
                s,
                "<path d=\"M{l} {top_} L{l} {bot_} A{rx_} {ry_} 0 0 0 {rr} {bot_} L{rr} {top_} Z\" {fill} {stroke}/>",
                l = f(r.min.x + 0.8),
                rr = f(r.max.x - 0.8),
                top_ = f(top),
                bot_ = f(bot),
                rx_ = f(rx - 0.8),
                ry_ = f(ry)
            );
            let _ = writeln!(
                s,
                "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" {fill} {stroke}/>",
                f(r.center().x),
                f(top),
                f(rx - 0.8),
                f(ry)
            );
        }
    }
    text(s, &n.tag, palette);
    text(s, &n.name, palette);
    text(s, &n.sub, palette);
    s.push_str("</g>\n");
}

/// Why a PNG could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("the SVG did not parse: {0}")]
    Parse(String),
    #[error("the diagram is too large to render ({0}x{1} pixels)")]
    Size(u32, u32),
    #[error("the PNG could not be encoded: {0}")]
    Encode(String),
}

/// The largest side of a PNG, in pixels.
const MAX_SIDE: u32 = 16_384;

/// Renders an SVG written by [`write`] at `scale` (2.0 for a sharp image on a
/// high-density screen; less when a side would exceed 16,384 pixels) to PNG bytes, with the system's fonts and the app's own font
/// (which the text was measured with) as the fallback when the system has none.
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>, PngError> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options::default();
    {
        let db = opt.fontdb_mut();
        db.load_system_fonts();
        for data in measure::font_data() {
            db.load_font_data(data.to_vec());
        }
        // Generic families resolve to the app's font when the system has no match.
        db.set_sans_serif_family("Ubuntu");
    }
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| PngError::Parse(e.to_string()))?;
    let size = tree.size();
    // A large diagram is rendered smaller rather than not at all.
    let longest = size.width().max(size.height()).max(1.0);
    let scale = scale.min((MAX_SIDE - 1) as f32 / longest);
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(PngError::Size(w, h));
    }
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or(PngError::Size(w, h))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| PngError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_their_text() {
        let e = xml_escape("</text><script>alert('1')</script>\n\u{7}&\"");
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
        assert!(!e.chars().any(char::is_control), "{e}");
        assert!(e.contains("&lt;/text&gt;&lt;script&gt;"));
    }
}
