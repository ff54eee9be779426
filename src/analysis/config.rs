//! Analysis thresholds: defaults, an optional `eventlens.toml` (next to the first capture or
//! given with `--config`), and command-line overrides on top.
//!
//! ```toml
//! # eventlens.toml
//! fan_out = 100
//! poison_attempts = 3
//!
//! [storm]
//! window_ms = 1000
//! z_score = 4.0
//! min_ratio = 5.0
//!
//! [timeouts]        # known handler limits in milliseconds
//! default_ms = 3000
//! handlers = { "handler-a" = 1000 }
//!
//! [services]        # a CloudEvents source (or span service) = the node it is drawn as
//! "/orders/api" = "orders-api"
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the configuration file looked for next to the first capture.
pub const CONFIG_FILE: &str = "eventlens.toml";

/// Every threshold of the flow analysis. `Default` gives the documented defaults.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// `fan-out`: one event causing more than this many descendant events.
    pub fan_out: u64,
    /// `poison-message`: one event failing this many attempts or more.
    pub poison_attempts: u32,
    /// Examples listed per finding (at most).
    pub max_examples: usize,
    /// Event-rate bursts (`storm`).
    pub storm: StormConfig,
    /// Handler time limits (`timeout-risk`).
    pub timeouts: TimeoutConfig,
    /// Cold-start inference (`cold-start`).
    pub cold_start: ColdStartConfig,
    /// Retry analysis (`retry-without-backoff`).
    pub retry: RetryConfig,
    /// Payload classification (`event-style`).
    pub event_style: EventStyleConfig,
    /// Latency time series (for plots and the JSON `latency.series`).
    pub latency: LatencyConfig,
    /// Service names by the name an input gives them: a CloudEvents `source` (or a span's
    /// service) on the left, the node it is drawn as on the right. For producers that
    /// nothing in the inputs links to their traced service.
    pub services: BTreeMap<String, String>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            fan_out: 100,
            poison_attempts: 3,
            max_examples: 20,
            storm: StormConfig::default(),
            timeouts: TimeoutConfig::default(),
            cold_start: ColdStartConfig::default(),
            retry: RetryConfig::default(),
            event_style: EventStyleConfig::default(),
            latency: LatencyConfig::default(),
            services: BTreeMap::new(),
        }
    }
}

/// A storm is a run of windows whose event count is far above an EWMA baseline of the
/// same series: `count >= min_events`, `count >= min_ratio * baseline` and
/// `(count - baseline) / stddev >= z_score`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StormConfig {
    /// Width of one rate window.
    pub window_ms: u64,
    /// Weight of the newest window in the EWMA baseline (0..1).
    pub alpha: f64,
    /// Minimum standard score of a window over the baseline.
    pub z_score: f64,
    /// Minimum ratio of a window's count to the baseline.
    pub min_ratio: f64,
    /// Windows with fewer events are never a storm.
    pub min_events: u64,
    /// Windows needed to establish a baseline before anything is flagged.
    pub warmup_windows: u32,
}

impl Default for StormConfig {
    fn default() -> Self {
        StormConfig {
            window_ms: 1000,
            alpha: 0.1,
            z_score: 4.0,
            min_ratio: 5.0,
            min_events: 20,
            warmup_windows: 5,
        }
    }
}

/// Known processing-time limits. A handler without one uses the limit implied by its
/// observed timeouts, if any.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// The limit of every handler not listed in `handlers`.
    pub default_ms: Option<f64>,
    /// Per handler name (as in `lenshandler` or the span's service).
    pub handlers: BTreeMap<String, f64>,
    /// Warn when p99 is at or above `(1 - margin) * limit`.
    pub margin: f64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            default_ms: None,
            handlers: BTreeMap::new(),
            margin: 0.2,
        }
    }
}

/// When a capture does not mark cold starts, the first invocation after this idle time
/// is taken for one if it is also slower than `slower_than` times the warm median.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ColdStartConfig {
    /// Idle time before an invocation that may make it cold.
    pub idle_gap_ms: u64,
    /// How many times slower than the median a cold invocation is.
    pub slower_than: f64,
}

impl Default for ColdStartConfig {
    fn default() -> Self {
        ColdStartConfig {
            idle_gap_ms: 300_000,
            slower_than: 2.0,
        }
    }
}

/// Retries "back off" when each interval grows by at least this factor over the previous.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Minimum growth factor from the first to the last retry interval.
    pub min_growth: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { min_growth: 1.2 }
    }
}

/// A payload of at most `thin_bytes` with at most `thin_fields` top-level fields is an
/// event notification; anything larger carries state.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventStyleConfig {
    /// Largest payload of a notification, in bytes.
    pub thin_bytes: u32,
    /// Most top-level fields of a notification.
    pub thin_fields: u32,
}

impl Default for EventStyleConfig {
    fn default() -> Self {
        EventStyleConfig {
            thin_bytes: 256,
            thin_fields: 3,
        }
    }
}

/// Latency series windows; 0 picks a window that gives about `points` points.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyConfig {
    /// Window width; 0 for automatic.
    pub window_ms: u64,
    /// Points aimed at by the automatic window.
    pub points: u32,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            window_ms: 0,
            points: 100,
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

impl AnalysisConfig {
    /// Parses TOML text (missing keys keep their defaults; unknown keys are errors).
    pub fn from_toml(text: &str) -> Result<AnalysisConfig, String> {
        let cfg: AnalysisConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Every value within what the analysis can use: a window of zero or of centuries, a
    /// negative or NaN factor is an error naming the key and the range, never an overflow
    /// or an endless loop.
    pub fn check(&self) -> Result<(), String> {
        const DAY_MS: u64 = 86_400_000;
        fn within<T: PartialOrd + std::fmt::Display>(
            key: &str,
            v: T,
            lo: T,
            hi: T,
            unit: &str,
        ) -> Result<(), String> {
            // NaN is outside every range.
            if v >= lo && v <= hi {
                Ok(())
            } else {
                Err(format!("{key} = {v}: must be from {lo} to {hi}{unit}"))
            }
        }
        let big = f64::from(u32::MAX);
        within(
            "storm.window_ms",
            self.storm.window_ms,
            1,
            DAY_MS,
            " (one day)",
        )?;
        within("storm.alpha", self.storm.alpha, f64::MIN_POSITIVE, 1.0, "")?;
        within("storm.z_score", self.storm.z_score, 0.0, big, "")?;
        within("storm.min_ratio", self.storm.min_ratio, 0.0, big, "")?;
        within(
            "latency.window_ms",
            self.latency.window_ms,
            0,
            DAY_MS,
            " (one day; 0 picks one)",
        )?;
        within("latency.points", self.latency.points, 1, 100_000, "")?;
        within(
            "cold_start.idle_gap_ms",
            self.cold_start.idle_gap_ms,
            0,
            365 * DAY_MS,
            " (a year)",
        )?;
        within(
            "cold_start.slower_than",
            self.cold_start.slower_than,
            0.0,
            big,
            "",
        )?;
        within("retry.min_growth", self.retry.min_growth, 0.0, big, "")?;
        within("timeouts.margin", self.timeouts.margin, 0.0, 1.0, "")?;
        let limit_ms = 365.0 * DAY_MS as f64;
        if let Some(ms) = self.timeouts.default_ms {
            within("timeouts.default_ms", ms, 0.0, limit_ms, " (a year)")?;
        }
        for (h, &ms) in &self.timeouts.handlers {
            within(
                &format!("timeouts.handlers.\"{h}\""),
                ms,
                0.0,
                limit_ms,
                " (a year)",
            )?;
        }
        Ok(())
    }

    /// Reads a configuration file.
    pub fn from_file(path: &Path) -> Result<AnalysisConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// The configuration for an `analyze` run: `explicit` if given, else `eventlens.toml`
    /// in the directory of the first capture if it exists, else the defaults. Returns the
    /// file used, if any.
    pub fn discover(
        explicit: Option<&Path>,
        first_capture: Option<&Path>,
    ) -> Result<(AnalysisConfig, Option<PathBuf>), ConfigError> {
        if let Some(p) = explicit {
            return Ok((Self::from_file(p)?, Some(p.to_path_buf())));
        }
        if let Some(first) = first_capture {
            let dir = first.parent().unwrap_or(Path::new(""));
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let candidate = dir.join(CONFIG_FILE);
            if candidate.is_file() {
                return Ok((Self::from_file(&candidate)?, Some(candidate)));
            }
        }
        Ok((AnalysisConfig::default(), None))
    }

    /// The processing-time limit of a handler in milliseconds, if one is configured.
    pub fn timeout_limit_ms(&self, handler: &str) -> Option<f64> {
        self.timeouts
            .handlers
            .get(handler)
            .copied()
            .or(self.timeouts.default_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_toml_keeps_defaults() {
        let c = AnalysisConfig::from_toml(
            "fan_out = 5\n[storm]\nz_score = 2.5\n[timeouts]\nhandlers = { \"handler-a\" = 900 }\n",
        )
        .unwrap();
        assert_eq!(c.fan_out, 5);
        assert_eq!(c.storm.z_score, 2.5);
        assert_eq!(c.storm.window_ms, 1000);
        assert_eq!(c.poison_attempts, 3);
        assert_eq!(c.timeout_limit_ms("handler-a"), Some(900.0));
        assert_eq!(c.timeout_limit_ms("handler-b"), None);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = AnalysisConfig::from_toml("fan_outt = 5").unwrap_err();
        assert!(e.contains("fan_outt"), "{e}");
    }
}

/// Threshold flags of `eventlens analyze`; each overrides the file's value when given.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AnalysisFlags {
    /// Thresholds file (TOML); default: eventlens.toml next to the first capture.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// fan-out: report events with more than N descendant events [default: 100].
    #[arg(long, value_name = "N")]
    pub fan_out: Option<u64>,
    /// poison-message: report events failing N or more attempts [default: 3].
    #[arg(long, value_name = "N")]
    pub poison_attempts: Option<u32>,
    /// storm: rate window in milliseconds [default: 1000].
    #[arg(long, value_name = "MS")]
    pub storm_window_ms: Option<u64>,
    /// storm: minimum z-score over the EWMA baseline [default: 4].
    #[arg(long, value_name = "Z")]
    pub storm_z: Option<f64>,
    /// storm: minimum ratio of the window rate to the baseline rate [default: 5].
    #[arg(long, value_name = "RATIO")]
    pub storm_ratio: Option<f64>,
    /// storm: minimum events in a window [default: 20].
    #[arg(long, value_name = "N")]
    pub storm_min_events: Option<u64>,
    /// timeout-risk: processing-time limit of every handler without its own, in ms.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<f64>,
    /// Latency series window in milliseconds [default: automatic, about 100 points].
    #[arg(long, value_name = "MS")]
    pub latency_window_ms: Option<u64>,
}

impl AnalysisFlags {
    /// The configuration: file (explicit or discovered next to `first_capture`), then flags.
    pub fn resolve(
        &self,
        first_capture: Option<&Path>,
    ) -> Result<(AnalysisConfig, Option<PathBuf>), ConfigError> {
        let (mut c, path) = AnalysisConfig::discover(self.config.as_deref(), first_capture)?;
        self.apply(&mut c);
        Ok((c, path))
    }

    /// Overrides the values given on the command line.
    pub fn apply(&self, c: &mut AnalysisConfig) {
        if let Some(v) = self.fan_out {
            c.fan_out = v;
        }
        if let Some(v) = self.poison_attempts {
            c.poison_attempts = v;
        }
        if let Some(v) = self.storm_window_ms {
            c.storm.window_ms = v;
        }
        if let Some(v) = self.storm_z {
            c.storm.z_score = v;
        }
        if let Some(v) = self.storm_ratio {
            c.storm.min_ratio = v;
        }
        if let Some(v) = self.storm_min_events {
            c.storm.min_events = v;
        }
        if let Some(v) = self.timeout_ms {
            c.timeouts.default_ms = Some(v);
        }
        if let Some(v) = self.latency_window_ms {
            c.latency.window_ms = v;
        }
    }
}
