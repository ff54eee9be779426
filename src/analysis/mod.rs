//! Analysis of a loaded [`Store`](crate::model::Store): the `analyze --json` report and the
//! findings (duplicates, storms, latency, delivery, schema).

pub mod report;
