//! Exports of the flow diagram. [`layout`] is the layered graph layout shared by the GUI and
//! the SVG/DOT/Mermaid writers; it knows nothing about how the result is drawn.

pub mod layout;
pub mod text;
