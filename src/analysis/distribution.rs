//! Latency distributions for plots: log-spaced bins, so a 5 ms warm invocation and a 600 ms
//! cold start both sit at their real values on one axis; cold and warm counted apart; the
//! rare far outliers gathered in one overflow bin that says where it starts. No UI here.

/// A histogram of latencies in milliseconds over log-spaced bins.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyBins {
    /// Bin edges in milliseconds, log-spaced: bin `i` is `edges[i]..edges[i + 1]`.
    pub edges: Vec<f64>,
    /// Warm (not cold-start) samples per bin.
    pub warm: Vec<u64>,
    /// Cold-start samples per bin.
    pub cold: Vec<u64>,
    /// Samples above the last edge, warm and cold: the overflow bin.
    pub overflow_warm: u64,
    pub overflow_cold: u64,
    /// The largest sample.
    pub max: f64,
}

impl LatencyBins {
    /// Where the overflow bin starts (the last edge).
    pub fn overflow_from(&self) -> f64 {
        self.edges.last().copied().unwrap_or(0.0)
    }

    pub fn overflow(&self) -> u64 {
        self.overflow_warm + self.overflow_cold
    }

    /// The largest count of one bin (overflow included).
    pub fn tallest(&self) -> u64 {
        self.warm
            .iter()
            .chain(&self.cold)
            .copied()
            .chain([self.overflow_warm, self.overflow_cold])
            .max()
            .unwrap_or(0)
    }
}

/// Rounds down (`up` false) or up to 1, 2 or 5 times a power of ten.
fn nice(v: f64, up: bool) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    let steps = [1.0, 2.0, 5.0, 10.0];
    if up {
        steps
            .iter()
            .map(|m| m * p)
            .find(|&x| x >= v * (1.0 - 1e-9))
            .unwrap_or(10.0 * p)
    } else {
        steps
            .iter()
            .rev()
            .map(|m| m * p)
            .find(|&x| x <= v * (1.0 + 1e-9))
            .unwrap_or(p)
    }
}

/// `bins` log-spaced bins over (milliseconds, cold start) samples, from the smallest
/// sample to three times the warm 99.9th percentile or the slowest cold start, whichever
/// is larger (rounded to 1-2-5); anything slower goes to the overflow bin. `None` without
/// samples.
pub fn log_bins(samples: &[(f64, bool)], bins: usize) -> Option<LatencyBins> {
    let bins = bins.max(1);
    let floor_ms = 0.001;
    let mut warm: Vec<f64> = samples
        .iter()
        .filter(|s| !s.1 && s.0.is_finite())
        .map(|s| s.0.max(floor_ms))
        .collect();
    warm.sort_by(f64::total_cmp);
    let cold_max = samples
        .iter()
        .filter(|s| s.1 && s.0.is_finite())
        .map(|s| s.0.max(floor_ms))
        .reduce(f64::max);
    let min = samples
        .iter()
        .filter(|s| s.0.is_finite())
        .map(|s| s.0.max(floor_ms))
        .reduce(f64::min)?;
    let max = samples
        .iter()
        .filter(|s| s.0.is_finite())
        .map(|s| s.0.max(floor_ms))
        .reduce(f64::max)?;
    let warm_hi = warm
        .get(((warm.len().max(1) - 1) as f64 * 0.999).round() as usize)
        .map(|p| p * 3.0);
    let hi = match (warm_hi, cold_max) {
        (Some(w), Some(c)) => w.max(c),
        (Some(w), None) => w,
        (None, Some(c)) => c,
        (None, None) => max,
    }
    .min(max);
    let mut lo = nice(min, false);
    let mut hi = nice(hi.max(lo * 1.5), true);
    if hi / lo < 2.5 {
        lo = nice(lo / 1.5, false);
        hi = nice(hi * 1.5, true);
    }
    let ratio = (hi / lo).ln();
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo * (ratio * i as f64 / bins as f64).exp())
        .collect();
    let mut out = LatencyBins {
        edges,
        warm: vec![0; bins],
        cold: vec![0; bins],
        overflow_warm: 0,
        overflow_cold: 0,
        max,
    };
    for &(ms, cold) in samples {
        if !ms.is_finite() {
            continue;
        }
        let ms = ms.max(floor_ms);
        if ms > hi * (1.0 + 1e-12) {
            if cold {
                out.overflow_cold += 1;
            } else {
                out.overflow_warm += 1;
            }
            continue;
        }
        let b = (((ms / lo).ln() / ratio * bins as f64).floor().max(0.0) as usize).min(bins - 1);
        if cold {
            out.cold[b] += 1;
        } else {
            out.warm[b] += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_starts_sit_at_their_real_values_not_in_the_last_warm_bin() {
        // 600 warm invocations of 4..16 ms, two cold starts at 450 and 520 ms.
        let mut s: Vec<(f64, bool)> = (0..600).map(|i| (4.0 + (i % 13) as f64, false)).collect();
        s.push((450.0, true));
        s.push((520.0, true));
        let b = log_bins(&s, 40).expect("bins");
        assert_eq!(b.overflow(), 0);
        assert_eq!(b.cold.iter().sum::<u64>(), 2);
        assert_eq!(b.warm.iter().sum::<u64>(), 600);
        for (i, &c) in b.cold.iter().enumerate() {
            if c > 0 {
                assert!(
                    b.edges[i] <= 520.0 && b.edges[i + 1] >= 450.0,
                    "{:?}",
                    &b.edges[i..=i + 1]
                );
            }
        }
        // Warm and cold are never in one bin here.
        assert!(b.warm.iter().zip(&b.cold).all(|(w, c)| *w == 0 || *c == 0));
    }

    #[test]
    fn a_far_warm_outlier_goes_to_the_labelled_overflow_bin() {
        let mut s: Vec<(f64, bool)> = (0..5000).map(|i| (10.0 + (i % 20) as f64, false)).collect();
        s.push((60_000.0, false));
        let b = log_bins(&s, 40).expect("bins");
        assert_eq!(b.overflow_warm, 1);
        assert!(b.overflow_from() >= 29.0 * 3.0 && b.overflow_from() < 60_000.0);
        assert_eq!(b.max, 60_000.0);
        assert_eq!(b.warm.iter().sum::<u64>() + b.overflow(), 5001);
    }

    #[test]
    fn zero_and_constant_latencies_still_bin() {
        let b = log_bins(&[(0.0, false), (0.0, false)], 10).expect("bins");
        assert_eq!(b.warm.iter().sum::<u64>(), 2);
        let b = log_bins(&[(5.0, false); 3], 10).expect("bins");
        assert_eq!(b.warm.iter().sum::<u64>(), 3);
        assert!(b.edges[0] < 5.0 && *b.edges.last().expect("edges") > 5.0);
        assert!(log_bins(&[], 10).is_none());
    }
}
