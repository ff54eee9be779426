//! Time series of the event flow, for the timeline and the graph's rates: per channel (or
//! per handler) and per kind (published, delivered, failed, retried, dead-lettered), the
//! events in each step of a fixed grid and the exact peak of a sliding rate window; and
//! min/max decimation to any number of bins, so a one-second storm keeps its height on a
//! one-day capture at every zoom. Every rate names its window.
//!
//! Nothing here knows pixels or colours: the UI asks for `n` bins over a time range and
//! draws what it gets.

use crate::model::{NodeId, NodeKind, Observation, Stage, Store};
use crate::time::{NANOS_PER_MS, NANOS_PER_SEC, Nanos};
use serde::Serialize;
use std::collections::VecDeque;

/// The window rates are measured over: 1 s, shorter only for captures too short for that to
/// show a shape (100 ms under 20 s, 10 ms under 2 s).
pub fn rate_window(span: Nanos) -> Nanos {
    if span >= 20 * NANOS_PER_SEC {
        NANOS_PER_SEC
    } else if span >= 2 * NANOS_PER_SEC {
        100 * NANOS_PER_MS
    } else {
        10 * NANOS_PER_MS
    }
}

/// A rate window for people: `1 s`, `100 ms`.
pub fn fmt_window(window: Nanos) -> String {
    if window >= NANOS_PER_SEC && window % NANOS_PER_SEC == 0 {
        format!("{} s", window / NANOS_PER_SEC)
    } else if window >= NANOS_PER_MS {
        format!("{} ms", window / NANOS_PER_MS)
    } else {
        format!("{} µs", window / 1000)
    }
}

/// A rate for people: `0/s`, `0.4/s`, `12/s`, `1,250/s`.
pub fn fmt_rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        "0/s".into()
    } else if per_sec < 10.0 && (per_sec - per_sec.round()).abs() > 0.05 {
        format!("{per_sec:.1}/s")
    } else {
        let n = per_sec.round() as u64;
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out + "/s"
    }
}

/// What a series counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowKind {
    /// Publishes onto the channel.
    Published,
    /// Deliveries from the channel (to the handler).
    Delivered,
    /// Failed handlings (error or timeout) of what came from the channel (at the handler).
    Failed,
    /// Deliveries with an attempt number above 1.
    Retried,
    /// Events that reached a dead-letter destination (for channels: the destination; for
    /// handlers: forwarded by the handler).
    DeadLettered,
}

impl FlowKind {
    pub const ALL: [FlowKind; 5] = [
        FlowKind::Published,
        FlowKind::Delivered,
        FlowKind::Failed,
        FlowKind::Retried,
        FlowKind::DeadLettered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Published => "published",
            FlowKind::Delivered => "delivered",
            FlowKind::Failed => "failed",
            FlowKind::Retried => "retried",
            FlowKind::DeadLettered => "dead-lettered",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whose series: channels (and dead-letter destinations) or handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    #[default]
    Channel,
    Handler,
}

/// One grid step (level 0) or a block of 2^level steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    /// Index of the block on its level's grid.
    idx: u64,
    /// Highest count of a sliding window ending in the block.
    peak: u32,
    /// Lowest step count in the block (0 when a step of it is empty).
    low: u32,
    /// Events in the block.
    events: u64,
}

/// One bin of a decimated series: the grid steps `[from, to)` it stands for. Counts are
/// per rate window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bin {
    /// The peak: the highest count of a sliding window ending in one of the steps.
    pub peak: u32,
    /// The lowest count of one of the steps (0 when one is empty).
    pub low: u32,
    /// Events in the steps.
    pub events: u64,
    pub from: Nanos,
    pub to: Nanos,
}

/// One series: the events of one kind at one channel or handler.
#[derive(Clone, Debug)]
pub struct FlowSeries {
    pub grouping: Grouping,
    pub node: NodeId,
    pub kind: FlowKind,
    /// The node's name (`orders`, `handler-a`).
    pub name: String,
    /// Events over the whole run.
    pub total: u64,
    /// The highest count of any sliding window over the whole run, and where that window
    /// ends.
    pub peak: u32,
    pub peak_at: Nanos,
    /// levels[0]: non-empty grid steps; levels[k]: non-empty blocks of 2^k steps.
    levels: Vec<Vec<Block>>,
}

/// The flow series of a store (or of a subset of its observations).
#[derive(Clone, Debug, Default)]
pub struct FlowTimeline {
    /// Origin of the step grid (the first time).
    pub start: Nanos,
    /// The last time.
    pub end: Nanos,
    /// The rate window, also the grid step.
    pub window: Nanos,
    pub by_channel: Vec<FlowSeries>,
    pub by_handler: Vec<FlowSeries>,
}

/// Builds one series from times in order, one event at a time: the sliding window only
/// holds the events of the last `window`.
struct SeriesBuilder {
    recent: VecDeque<Nanos>,
    steps: Vec<Block>,
    total: u64,
    peak: u32,
    peak_at: Nanos,
}

impl SeriesBuilder {
    fn new() -> Self {
        SeriesBuilder {
            recent: VecDeque::new(),
            steps: Vec::new(),
            total: 0,
            peak: 0,
            peak_at: 0,
        }
    }

    fn push(&mut self, t: Nanos, start: Nanos, window: Nanos) {
        while self.recent.front().is_some_and(|&f| f <= t - window) {
            self.recent.pop_front();
        }
        self.recent.push_back(t);
        let n = self.recent.len() as u32;
        self.total += 1;
        if n > self.peak {
            self.peak = n;
            self.peak_at = t;
        }
        let idx = ((t - start).max(0) / window) as u64;
        match self.steps.last_mut() {
            Some(b) if b.idx == idx => {
                b.peak = b.peak.max(n);
                b.low += 1;
                b.events += 1;
            }
            _ => self.steps.push(Block {
                idx,
                peak: n,
                low: 1,
                events: 1,
            }),
        }
    }

    fn finish(self, grouping: Grouping, node: NodeId, kind: FlowKind, name: String) -> FlowSeries {
        let mut levels = vec![self.steps];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let prev = levels.last().map_or(&[][..], Vec::as_slice);
            let mut next: Vec<Block> = Vec::with_capacity(prev.len() / 2 + 1);
            let mut i = 0;
            while i < prev.len() {
                let a = prev[i];
                let parent = a.idx / 2;
                match prev.get(i + 1).filter(|b| b.idx / 2 == parent) {
                    Some(b) => {
                        next.push(Block {
                            idx: parent,
                            peak: a.peak.max(b.peak),
                            low: a.low.min(b.low),
                            events: a.events + b.events,
                        });
                        i += 2;
                    }
                    None => {
                        // The sibling step is empty: the block's lowest count is 0.
                        next.push(Block {
                            idx: parent,
                            low: 0,
                            ..a
                        });
                        i += 1;
                    }
                }
            }
            levels.push(next);
        }
        FlowSeries {
            grouping,
            node,
            kind,
            name,
            total: self.total,
            peak: self.peak,
            peak_at: self.peak_at,
            levels,
        }
    }
}

/// The series an observation counts in: (grouping, node, kind), up to four.
fn classify(store: &Store, o: &Observation, mut f: impl FnMut(Grouping, NodeId, FlowKind)) {
    let kind_of = |n: NodeId| store.topology.node(n).map(|n| n.kind);
    let is_channel =
        |n: NodeId| matches!(kind_of(n), Some(NodeKind::Channel | NodeKind::DeadLetter));
    match o.stage {
        Stage::Publish if is_channel(o.to) => f(Grouping::Channel, o.to, FlowKind::Published),
        Stage::Deliver => {
            let retry = o.attempt > 1;
            if is_channel(o.from) {
                f(Grouping::Channel, o.from, FlowKind::Delivered);
                if retry {
                    f(Grouping::Channel, o.from, FlowKind::Retried);
                }
            }
            if o.to.some().is_some() {
                f(Grouping::Handler, o.to, FlowKind::Delivered);
                if retry {
                    f(Grouping::Handler, o.to, FlowKind::Retried);
                }
            }
        }
        Stage::Handle if o.outcome.is_failure() => {
            if is_channel(o.from) {
                f(Grouping::Channel, o.from, FlowKind::Failed);
            }
            if o.to.some().is_some() {
                f(Grouping::Handler, o.to, FlowKind::Failed);
            }
        }
        Stage::DeadLetter => {
            if o.to.some().is_some() {
                f(Grouping::Channel, o.to, FlowKind::DeadLettered);
            }
            if kind_of(o.from) == Some(NodeKind::Handler) {
                f(Grouping::Handler, o.from, FlowKind::DeadLettered);
            }
        }
        _ => {}
    }
}

impl FlowTimeline {
    /// The series of every channel and handler over the store's observations, or over
    /// `only` (observation indices in time order, e.g. what a filter keeps). One pass.
    pub fn build(store: &Store, only: Option<&[u32]>) -> FlowTimeline {
        let (Some(start), Some(end)) = (store.first_time(), store.last_time()) else {
            return FlowTimeline::default();
        };
        let window = rate_window(end - start);
        let kinds = FlowKind::ALL.len();
        let slot = |g: Grouping, n: NodeId, k: FlowKind| {
            ((n.0 as usize * kinds + k.index()) << 1) | (g == Grouping::Handler) as usize
        };
        let mut builders: Vec<Option<SeriesBuilder>> = Vec::new();
        builders.resize_with(store.nodes.len() * kinds * 2, || None);
        let mut add = |o: &Observation| {
            classify(store, o, |g, n, k| {
                if let Some(b) = builders.get_mut(slot(g, n, k)) {
                    b.get_or_insert_with(SeriesBuilder::new)
                        .push(o.time, start, window);
                }
            })
        };
        match only {
            Some(idx) => idx
                .iter()
                .filter_map(|&i| store.observations.get(i as usize))
                .for_each(&mut add),
            None => store.observations.iter().for_each(&mut add),
        }
        let mut by_channel = Vec::new();
        let mut by_handler = Vec::new();
        for (i, b) in builders.into_iter().enumerate() {
            let Some(b) = b else { continue };
            let handler = i & 1 == 1;
            let node = NodeId((i >> 1) as u32 / kinds as u32);
            let kind = FlowKind::ALL[(i >> 1) % kinds];
            let name = store.node_name(node).to_string();
            if handler {
                by_handler.push(b.finish(Grouping::Handler, node, kind, name));
            } else {
                by_channel.push(b.finish(Grouping::Channel, node, kind, name));
            }
        }
        for v in [&mut by_channel, &mut by_handler] {
            v.sort_by(|a, b| a.name.cmp(&b.name).then(a.kind.cmp(&b.kind)));
        }
        FlowTimeline {
            start,
            end,
            window,
            by_channel,
            by_handler,
        }
    }

    pub fn series(&self, g: Grouping) -> &[FlowSeries] {
        match g {
            Grouping::Channel => &self.by_channel,
            Grouping::Handler => &self.by_handler,
        }
    }

    /// Events per second for a count in one rate window.
    pub fn per_sec(&self, count: u32) -> f64 {
        count as f64 * NANOS_PER_SEC as f64 / self.window.max(1) as f64
    }

    /// `bins` bins of equal width over `[from, to)` for one series. A bin holds the grid
    /// steps (or, zoomed out, blocks of 2^k steps summed when the series was built) that
    /// start in it; zoomed in further than one step, the step it lies in. Per bin: the
    /// highest sliding-window count and the lowest step count among them, so the extremes
    /// survive however many steps a bin holds, and their events. Bins outside the capture
    /// are `None`. Costs O(bins · log), whatever the zoom.
    pub fn decimate(
        &self,
        s: &FlowSeries,
        from: Nanos,
        to: Nanos,
        bins: usize,
    ) -> Vec<Option<Bin>> {
        if bins == 0 || to <= from || self.window <= 0 {
            return vec![None; bins];
        }
        let bin_w = (to - from) as f64 / bins as f64;
        let edge = |b: usize| from + (b as f64 * bin_w) as Nanos;
        let steps_per_bin = bin_w / self.window as f64;
        let level = if steps_per_bin >= 2.0 {
            (steps_per_bin.log2().floor() as usize).min(s.levels.len().saturating_sub(1))
        } else {
            0
        };
        let block = self.window.saturating_mul(1 << level.min(40));
        let last_block = (self.end - self.start) / block;
        let floor_block = |t: Nanos| (t - self.start).div_euclid(block);
        let ceil_block = |t: Nanos| (t - self.start + block - 1).div_euclid(block);
        let blocks = s.levels.get(level).map_or(&[][..], Vec::as_slice);
        (0..bins)
            .map(|b| {
                let (a, z) = (edge(b), edge(b + 1).max(edge(b) + 1));
                // The first bin also holds the block the view starts in.
                let first = if b == 0 {
                    floor_block(a)
                } else {
                    ceil_block(a)
                };
                let last = floor_block(z - 1);
                let (first, last) = if first <= last {
                    (first, last)
                } else {
                    (floor_block(a), floor_block(a))
                };
                let (first, last) = (first.max(0), last.min(last_block));
                if first > last {
                    return None;
                }
                let i = blocks.partition_point(|x| (x.idx as i64) < first);
                let mut bin = Bin {
                    peak: 0,
                    low: u32::MAX,
                    events: 0,
                    from: self.start + first * block,
                    to: self.start + (last + 1) * block,
                };
                let mut present = 0;
                for x in blocks[i..].iter().take_while(|x| x.idx as i64 <= last) {
                    bin.peak = bin.peak.max(x.peak);
                    bin.low = bin.low.min(x.low);
                    bin.events += x.events;
                    present += 1;
                }
                if present < last - first + 1 {
                    bin.low = 0;
                }
                Some(bin)
            })
            .collect()
    }
}

/// The rate at a time on one sorted list of times (an edge): the count in the window
/// ending there, and the highest count of any window ending at or before it.
#[derive(Clone, Debug, Default)]
pub struct RateIndex {
    pub window: Nanos,
    /// For each time, the highest window count ending at it or before.
    peak_until: Vec<u32>,
}

/// A rate at the cursor, with its window and the peak so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateAt {
    pub window: Nanos,
    /// Events per second in the window ending at the cursor.
    pub per_sec: f64,
    /// The highest rate of any window ending at or before the cursor.
    pub peak_per_sec: f64,
}

impl RateAt {
    /// `12/s (1 s) · peak 200/s`; the peak only when it says more than the rate.
    pub fn label(&self) -> String {
        let mut s = format!("{} ({})", fmt_rate(self.per_sec), fmt_window(self.window));
        if self.peak_per_sec > self.per_sec {
            s.push_str(&format!(" · peak {}", fmt_rate(self.peak_per_sec)));
        }
        s
    }
}

impl RateIndex {
    /// Indexes sorted `times` (O(n), one two-pointer pass).
    pub fn new(times: &[Nanos], window: Nanos) -> RateIndex {
        let window = window.max(1);
        let mut peak_until = Vec::with_capacity(times.len());
        let mut lo = 0usize;
        let mut best = 0u32;
        for (i, &t) in times.iter().enumerate() {
            while lo < i && times[lo] <= t - window {
                lo += 1;
            }
            best = best.max((i + 1 - lo) as u32);
            peak_until.push(best);
        }
        RateIndex { window, peak_until }
    }

    /// The rate at `t` on the same `times` the index was built from.
    pub fn at(&self, times: &[Nanos], t: Nanos) -> RateAt {
        let upto = times.partition_point(|&x| x <= t);
        let since = times.partition_point(|&x| x <= t - self.window);
        let per = |n: usize| n as f64 * NANOS_PER_SEC as f64 / self.window as f64;
        let peak = upto
            .checked_sub(1)
            .and_then(|i| self.peak_until.get(i))
            .copied()
            .unwrap_or(0);
        RateAt {
            window: self.window,
            per_sec: per(upto.saturating_sub(since)),
            peak_per_sec: per(peak as usize),
        }
    }
}

/// Runs of consecutive windows: index ranges into `starts` (sorted window starts) within
/// which each window begins where the previous one ended. A plot draws each run on its own,
/// so no line crosses a window without samples.
pub fn contiguous_runs(starts: &[Nanos], window: Nanos) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut begin = 0;
    for i in 1..=starts.len() {
        let broken = i == starts.len() || starts[i] - starts[i - 1] > window;
        if broken {
            if i > begin {
                runs.push(begin..i);
            }
            begin = i;
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series_of(times: &[Nanos], window: Nanos) -> FlowSeries {
        let mut b = SeriesBuilder::new();
        for &t in times {
            b.push(t, 0, window);
        }
        b.finish(
            Grouping::Channel,
            NodeId(0),
            FlowKind::Published,
            "c".into(),
        )
    }

    fn timeline(s: FlowSeries, end: Nanos, window: Nanos) -> FlowTimeline {
        FlowTimeline {
            start: 0,
            end,
            window,
            by_channel: vec![s],
            by_handler: Vec::new(),
        }
    }

    #[test]
    fn a_burst_across_a_step_boundary_keeps_its_full_peak() {
        let s = NANOS_PER_SEC;
        // 300 events in one second starting half-way through step 10.
        let times: Vec<Nanos> = (0..300).map(|i| 10 * s + s / 2 + i * s / 300).collect();
        let series = series_of(&times, s);
        assert_eq!(series.peak, 300);
        let tl = timeline(series, 100 * s, s);
        let bins = tl.decimate(&tl.by_channel[0], 0, 100 * s, 7);
        let peak = bins.iter().flatten().map(|b| b.peak).max();
        assert_eq!(peak, Some(300));
        let events: u64 = bins.iter().flatten().map(|b| b.events).sum();
        assert_eq!(events, 300);
    }

    #[test]
    fn low_is_zero_where_a_step_is_empty_and_the_count_where_all_are_full() {
        let s = NANOS_PER_SEC;
        // Two events per second for 8 s, then nothing for 8 s.
        let times: Vec<Nanos> = (0..16).map(|i| i * s / 2).collect();
        let tl = timeline(series_of(&times, s), 16 * s, s);
        let bins = tl.decimate(&tl.by_channel[0], 0, 16 * s, 2);
        let (a, b) = (bins[0].expect("in range"), bins[1].expect("in range"));
        assert_eq!((a.low, a.peak, a.events), (2, 2, 16));
        assert_eq!((b.low, b.peak, b.events), (0, 0, 0));
    }

    #[test]
    fn bins_outside_the_capture_are_none() {
        let s = NANOS_PER_SEC;
        let tl = timeline(series_of(&[0, s, 2 * s], s), 2 * s, s);
        let bins = tl.decimate(&tl.by_channel[0], -10 * s, 10 * s, 20);
        assert!(bins[0].is_none() && bins[19].is_none());
        assert!(bins[10].is_some());
    }

    #[test]
    fn the_rate_at_the_cursor_names_its_window_and_keeps_the_peak() {
        let s = NANOS_PER_SEC;
        // 200 events in the second after 10 s, then 1 per second.
        let mut times: Vec<Nanos> = (0..200).map(|i| 10 * s + i * s / 200).collect();
        times.extend((12..30).map(|i| i * s));
        let idx = RateIndex::new(&times, s);
        let during = idx.at(&times, 10 * s + s - 1);
        assert_eq!(during.per_sec, 200.0);
        let after = idx.at(&times, 20 * s);
        assert_eq!(after.per_sec, 1.0);
        assert_eq!(after.peak_per_sec, 200.0);
        assert_eq!(after.label(), "1/s (1 s) · peak 200/s");
        let before = idx.at(&times, 5 * s);
        assert_eq!((before.per_sec, before.peak_per_sec), (0.0, 0.0));
    }

    #[test]
    fn runs_break_where_a_window_has_no_samples() {
        let w = 10;
        let runs = contiguous_runs(&[0, 10, 20, 50, 60, 100], w);
        assert_eq!(runs, vec![0..3, 3..5, 5..6]);
        assert!(contiguous_runs(&[], w).is_empty());
    }

    #[test]
    fn rates_and_windows_read_as_people_write_them() {
        assert_eq!(fmt_rate(0.0), "0/s");
        assert_eq!(fmt_rate(0.5), "0.5/s");
        assert_eq!(fmt_rate(12.0), "12/s");
        assert_eq!(fmt_rate(1250.0), "1,250/s");
        assert_eq!(fmt_window(NANOS_PER_SEC), "1 s");
        assert_eq!(fmt_window(100 * NANOS_PER_MS), "100 ms");
    }
}

/// What the window draws of some observations (all of a store's, or what a filter keeps)
/// that takes a pass over them: the timeline's series and each edge's rate index. Built
/// where the data is made (the live worker for each snapshot, the filter thread for each
/// filter result), so a frame only swaps it in.
#[derive(Clone, Debug, Default)]
pub struct FlowViews {
    pub flow: FlowTimeline,
    /// The window of every rate shown (edges and timeline).
    pub rate_window: Nanos,
    /// Per edge (from, to): the peak rate so far at each of its times.
    pub edge_rates: rustc_hash::FxHashMap<(NodeId, NodeId), RateIndex>,
}

impl FlowViews {
    /// Of every observation of `store`, or of what `filter` keeps of them.
    pub fn build(store: &Store, filter: Option<&crate::analysis::filter::FilterResult>) -> Self {
        let flow = FlowTimeline::build(store, filter.map(|f| f.observations.as_slice()));
        let rate_window = match (store.first_time(), store.last_time()) {
            (Some(a), Some(b)) => rate_window(b - a),
            _ => rate_window(0),
        };
        let edge_rates = store
            .topology
            .graph
            .edge_weights()
            .map(|e| {
                let times = FlowViews::edge_times_of(store, filter, e.from, e.to);
                ((e.from, e.to), RateIndex::new(times, rate_window))
            })
            .collect();
        FlowViews {
            flow,
            rate_window,
            edge_rates,
        }
    }

    /// Times of the observations on an edge (of what `filter` keeps, when given).
    pub fn edge_times_of<'a>(
        store: &'a Store,
        filter: Option<&'a crate::analysis::filter::FilterResult>,
        from: NodeId,
        to: NodeId,
    ) -> &'a [Nanos] {
        match filter {
            Some(f) => f.edge_times.get(&(from, to)).map_or(&[], Vec::as_slice),
            None => store
                .topology
                .edge_between(from, to)
                .map_or(&[], |e| e.times.as_slice()),
        }
    }
}
