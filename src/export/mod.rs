//! Exports of the flow diagram. [`layout`] is the layered graph layout and [`scene`] the
//! renderer-neutral diagram (shapes, routed edges, placed labels, style classes) that the
//! GUI and the SVG/PNG writers both draw; [`text`] writes DOT, Mermaid and PlantUML.

pub mod layout;
pub mod measure;
pub mod scene;
pub mod style;
pub mod svg;
pub mod text;

use crate::analysis::AnalysisConfig;
use crate::analysis::report::Report;
use crate::model::Store;

/// What an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Svg,
    Png,
    Dot,
    Mermaid,
    PlantUml,
    /// The topology as in `analyze --json`.
    Json,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Svg,
        Format::Png,
        Format::Dot,
        Format::Mermaid,
        Format::PlantUml,
        Format::Json,
    ];

    /// The name people and `--format` use.
    pub fn name(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
            Format::Dot => "dot",
            Format::Mermaid => "mermaid",
            Format::PlantUml => "plantuml",
            Format::Json => "json",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
            Format::Dot => "dot",
            Format::Mermaid => "mmd",
            Format::PlantUml => "puml",
            Format::Json => "json",
        }
    }

    /// A `--format` value (case-insensitive, with the usual aliases).
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "svg" => Format::Svg,
            "png" => Format::Png,
            "dot" | "graphviz" | "gv" => Format::Dot,
            "mermaid" | "mmd" => Format::Mermaid,
            "plantuml" | "puml" => Format::PlantUml,
            "json" => Format::Json,
            _ => return None,
        })
    }

    /// The format a file extension says.
    pub fn from_extension(ext: &str) -> Option<Format> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "svg" => Format::Svg,
            "png" => Format::Png,
            "dot" | "gv" => Format::Dot,
            "mmd" | "mermaid" => Format::Mermaid,
            "puml" | "plantuml" | "pu" => Format::PlantUml,
            "json" => Format::Json,
            _ => return None,
        })
    }
}

/// What an export shows and where it came from (written into the JSON document).
#[derive(Clone, Debug, Default)]
pub struct Options<'a> {
    pub filter: Option<&'a str>,
    pub at: Option<&'a str>,
    pub window: Option<&'a str>,
    pub colouring: scene::Colouring,
    /// Draw synchronous calls (the app's "calls" toggle).
    pub show_calls: bool,
    /// SVG and PNG colours (the app's default is the dark theme).
    pub palette: Option<style::Palette>,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Png(#[from] svg::PngError),
    #[error("serializing the topology: {0}")]
    Json(#[from] serde_json::Error),
}

/// The bytes of `store`'s diagram in `format` (the store already cut to what is
/// exported: filtered, as of a moment or within a window).
pub fn render(
    store: &Store,
    cfg: &AnalysisConfig,
    format: Format,
    opts: &Options<'_>,
) -> Result<Vec<u8>, ExportError> {
    let palette = opts.palette.unwrap_or(style::Palette::DARK);
    let text_format = match format {
        Format::Svg | Format::Png => {
            let scene = scene::of_store(store, opts.colouring, opts.show_calls);
            let doc = svg::write(&scene, &palette);
            return Ok(if format == Format::Png {
                svg::png(&doc, 2.0)?
            } else {
                doc.into_bytes()
            });
        }
        Format::Dot => text::TextFormat::Dot,
        Format::Mermaid => text::TextFormat::Mermaid,
        Format::PlantUml => text::TextFormat::PlantUml,
        Format::Json => {
            let report = Report::build_with(store, cfg, true);
            let doc = serde_json::json!({
                "schema": "eventlens.topology/v1",
                "filter": opts.filter,
                "at": opts.at,
                "window": opts.window,
                "topology": report.topology,
            });
            return Ok((serde_json::to_string_pretty(&doc)? + "\n").into_bytes());
        }
    };
    let report = Report::build_with(store, cfg, true);
    Ok(text::write(&report.topology, text_format).into_bytes())
}
