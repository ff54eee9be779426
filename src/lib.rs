//! eventlens: a debugger for event-driven and serverless systems. The library is the
//! engine (formats, model, analysis, replay, export, simulator); `src/ui` is the only module
//! that knows egui.

pub mod analysis;
pub mod ingest;
pub mod model;
pub mod sim;
pub mod source;

pub mod export;
pub mod live;
pub mod memory;
pub mod redrive;
pub mod replay;
pub mod time;
#[cfg(feature = "gui")]
pub mod ui;
