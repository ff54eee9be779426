//! A moment in a capture as the command line names it: `--cursor` in the app, `--at` and
//! `--window` in `export` and `replay`. Parsed once (a malformed one is a usage error), then
//! resolved against what was loaded; one outside the input is one sentence, never ignored.

use crate::model::Store;
use crate::time::{Nanos, format_rfc3339, parse_rfc3339};

/// Where `--cursor` puts the cursor.
#[derive(Clone, Debug, PartialEq)]
pub enum StartCursor {
    Start,
    End,
    /// Seconds after the first observation.
    Secs(f64),
    At(Nanos),
}

impl StartCursor {
    /// `start`, `end`, seconds after the start (`23`, `23.5s`) or an RFC 3339 time.
    pub fn parse(s: &str) -> Result<StartCursor, String> {
        Self::parse_for("--cursor", s)
    }

    /// As [`StartCursor::parse`], for an option named `flag` (`--at`, `--window`).
    pub fn parse_for(flag: &str, s: &str) -> Result<StartCursor, String> {
        match s.trim() {
            "start" => Ok(StartCursor::Start),
            "end" => Ok(StartCursor::End),
            t => match t.trim_end_matches('s').parse::<f64>() {
                Ok(secs) if secs.is_finite() => Ok(StartCursor::Secs(secs)),
                _ => parse_rfc3339(t).map(StartCursor::At).map_err(|_| {
                    format!(
                        "{flag} {s}: expected seconds after the start, start, end or an RFC 3339 time"
                    )
                }),
            },
        }
    }

    /// The time in `store`, or why there is none (before the start, past the end).
    pub fn resolve(&self, store: &Store, given: &str) -> Result<Nanos, String> {
        self.resolve_for(store, "--cursor", given)
    }

    /// As [`StartCursor::resolve`], for an option named `flag` (`--at`, `--window`).
    pub fn resolve_for(&self, store: &Store, flag: &str, given: &str) -> Result<Nanos, String> {
        let (Some(first), Some(last)) = (store.first_time(), store.last_time()) else {
            return Err(format!("{flag} {given}: the input holds no events"));
        };
        let span = (last - first) as f64 / 1e9;
        let what = if flag == "--cursor" {
            "the cursor"
        } else {
            "it"
        };
        let t = match self {
            StartCursor::Start => first,
            StartCursor::End => last,
            StartCursor::Secs(s) => {
                if *s < 0.0 || *s > span + 1e-9 {
                    return Err(format!(
                        "{flag} {given}: the input spans {span:.3} s, so {what} must be within 0 to {span:.3}"
                    ));
                }
                first + (s * 1e9).round() as Nanos
            }
            StartCursor::At(t) => {
                if *t < first || *t > last {
                    return Err(format!(
                        "{flag} {given}: outside the input, which runs from {} to {}",
                        format_rfc3339(first),
                        format_rfc3339(last)
                    ));
                }
                *t
            }
        };
        Ok(t.min(last))
    }
}
