//! Analysis of a loaded [`Store`](crate::model::Store): the `analyze --json` report, the
//! latency summaries and series, and the findings (duplicates, storms, delivery, schema,
//! governance). [`analyze`] is the entry point the CLI and the GUI share.

pub mod config;
pub mod declared;
pub mod delivery;
pub mod distribution;
pub mod duplicates;
pub mod filter;
pub mod findings;
pub mod governance;
pub mod latency;
pub mod report;
pub mod schema;
pub mod series;
pub mod storm;

pub use config::AnalysisConfig;
pub use delivery::{ColdWarm, cold_warm};
pub use findings::{EdgeRef, EventRef, Evidence, FailOn, Finding, Kind, Severity, analyze, detect};
pub use latency::{LatencyKind, LatencyPoint, LatencyReport, LatencySeries, latency};
