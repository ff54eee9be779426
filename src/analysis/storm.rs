//! Storms and amplification: `storm` (an event rate far above its own EWMA baseline, per
//! channel, per event type and per delivery edge), `feedback-loop` (events that come
//! back, through their causal chain, to the handler or channel of an ancestor of their type) and `fan-out` (one event
//! causing more than N descendants through `causationid`, or through its trace).

use super::config::{AnalysisConfig, StormConfig};
use super::findings::{Acc, Evidence, Finding, Kind, Severity, name, plural};
use crate::model::*;
use crate::time::Nanos;
use rustc_hash::{FxHashMap, FxHashSet};

/// A run of windows whose counts are far above the baseline before them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burst {
    /// First and last event of the burst.
    pub start: Nanos,
    pub end: Nanos,
    /// Events in the busiest window.
    pub peak: u64,
    /// Baseline events per window when the burst began.
    pub baseline: f64,
    /// Standard score of the busiest window.
    pub z: f64,
    /// Events in the burst.
    pub events: u64,
    /// Events above what the baseline rate would have given over the burst's duration.
    pub excess: u64,
}

/// Finds bursts in a sorted series of times: counts per window against an EWMA baseline
/// (a running mean during warm-up), flagged windows not updating the baseline.
pub fn bursts(times: &[Nanos], cfg: &StormConfig) -> Vec<Burst> {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Vec::new();
    };
    let mut w = i64::try_from(cfg.window_ms.max(1))
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    // Bound the number of windows (a long idle capture with a small window).
    while (last - first) / w > 10_000_000 {
        w = w.saturating_mul(2);
    }
    let t0 = first.div_euclid(w) * w;
    let mut out: Vec<Burst> = Vec::new();
    let (mut mean, mut var) = (0.0f64, 0.0f64);
    let mut k: u64 = 0;
    let mut i = 0;
    let mut current: Option<Burst> = None;
    let mut ws = t0;
    while i < times.len() {
        let we = ws + w;
        let n = times[i..].partition_point(|&t| t < we);
        let c = n as u64;
        i += n;
        let cf = c as f64;
        let mut flagged = false;
        if k >= u64::from(cfg.warmup_windows) {
            let sd = var.sqrt().max(mean.sqrt()).max(1.0);
            let z = (cf - mean) / sd;
            if c >= cfg.min_events && cf >= cfg.min_ratio * mean.max(1.0) && z >= cfg.z_score {
                flagged = true;
                match &mut current {
                    Some(b) => {
                        b.end = we;
                        b.events += c;
                        if c > b.peak {
                            b.peak = c;
                            b.z = z;
                        }
                    }
                    None => {
                        current = Some(Burst {
                            start: ws,
                            end: we,
                            peak: c,
                            baseline: mean,
                            z,
                            events: c,
                            excess: 0,
                        })
                    }
                }
            }
        }
        if !flagged {
            if let Some(b) = current.take() {
                out.push(b);
            }
            let alpha = if k < u64::from(cfg.warmup_windows) {
                1.0 / (k as f64 + 1.0)
            } else {
                cfg.alpha
            };
            let d = cf - mean;
            mean += alpha * d;
            var = (1.0 - alpha) * (var + alpha * d * d);
            k += 1;
        }
        ws = we;
        // Skip long empty stretches quickly, still decaying the baseline per window.
        if i < times.len() && times[i] >= ws + w && current.is_none() {
            let empty = ((times[i] - ws) / w) as u64;
            for _ in 0..empty.min(10_000) {
                let alpha = if k < u64::from(cfg.warmup_windows) {
                    1.0 / (k as f64 + 1.0)
                } else {
                    cfg.alpha
                };
                let d = -mean;
                mean += alpha * d;
                var = (1.0 - alpha) * (var + alpha * d * d);
                k += 1;
            }
            ws += empty as i64 * w;
        }
    }
    if let Some(b) = current {
        out.push(b);
    }
    for b in &mut out {
        refine(times, b, w, cfg);
    }
    out
}

/// Narrows a burst found on whole windows to the events that make it: sub-windows of a
/// tenth of the window, grown from the busiest one while they stay `min_ratio` above the
/// baseline, then event by event while arrivals keep the pace. Then `start`/`end` are the
/// first and last event of the burst, `peak` the most
/// events in any sliding window, and `excess` the events above the baseline rate.
fn refine(times: &[Nanos], b: &mut Burst, w: i64, cfg: &StormConfig) {
    let sub = (w / 10).max(1);
    let lo = b.start - w;
    let n_sub = ((b.end + w - lo) / sub).max(1) as usize;
    let base_index = times.partition_point(|&t| t < lo);
    let mut counts = vec![0u64; n_sub];
    for &t in &times[base_index..] {
        let k = ((t - lo) / sub) as usize;
        if k >= n_sub {
            break;
        }
        counts[k] += 1;
    }
    let threshold = (b.baseline / 10.0 * cfg.min_ratio).max(2.0);
    // The busiest sub-window inside the coarse burst.
    let first_in = ((b.start - lo) / sub) as usize;
    let last_in = (((b.end - lo) / sub) as usize).min(n_sub);
    let Some(peak) = (first_in..last_in).max_by_key(|&k| (counts[k], std::cmp::Reverse(k))) else {
        return;
    };
    let (mut l, mut r) = (peak, peak);
    while l > 0 && counts[l - 1] as f64 >= threshold {
        l -= 1;
    }
    while r + 1 < n_sub && counts[r + 1] as f64 >= threshold {
        r += 1;
    }
    let from = lo + l as i64 * sub;
    let to = lo + (r as i64 + 1) * sub;
    let mut a = times.partition_point(|&t| t < from);
    let mut z = times.partition_point(|&t| t < to);
    if z <= a {
        return;
    }
    // Sub-windows cut the burst's edges: extend event by event while the arrivals keep
    // the burst's pace (at most the gap the threshold rate allows).
    let gap = (sub as f64 / threshold) as i64;
    while a > 0 && times[a] - times[a - 1] <= gap {
        a -= 1;
    }
    while z < times.len() && times[z] - times[z - 1] <= gap {
        z += 1;
    }
    let span = &times[a..z];
    b.start = span[0];
    b.end = span[span.len() - 1];
    b.events = span.len() as u64;
    // Most events in any window-wide sliding window.
    let (mut j, mut best) = (0usize, 0usize);
    for i in 0..span.len() {
        while span[i] - span[j] >= w {
            j += 1;
        }
        best = best.max(i - j + 1);
    }
    b.peak = b.peak.max(best as u64);
    let expected = b.baseline * (b.end - b.start) as f64 / w as f64;
    b.excess = (b.events as f64 - expected).round().max(0.0) as u64;
}

/// One time series the storm detector watches.
struct Series {
    /// Publish or delivery times with their events, in time order.
    points: Vec<(Nanos, EventIdx)>,
}

pub(crate) fn storms(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    let sc = &cfg.storm;
    let mut channels: FxHashMap<NodeId, Series> = FxHashMap::default();
    let mut types: FxHashMap<Sym, Series> = FxHashMap::default();
    for o in &store.observations {
        if o.stage != Stage::Publish || o.inferred {
            continue;
        }
        channels
            .entry(o.to)
            .or_insert_with(|| Series { points: Vec::new() })
            .points
            .push((o.time, o.event));
        types
            .entry(store.events[o.event.0 as usize].ty)
            .or_insert_with(|| Series { points: Vec::new() })
            .points
            .push((o.time, o.event));
    }
    let window_s = sc.window_ms.max(1) as f64 / 1000.0;
    let mut times: Vec<Nanos> = Vec::new();
    let rate = |c: f64| ((c / window_s) * 100.0).round() / 100.0;
    let mut channel_bursts: Vec<(NodeId, Burst)> = Vec::new();
    let examples = |acc: &mut Acc, points: &[(Nanos, EventIdx)], b: &Burst| {
        let from = points.partition_point(|p| p.0 < b.start);
        let to = points.partition_point(|p| p.0 <= b.end);
        for p in &points[from..to] {
            acc.add(p.1, p.0, cfg.max_examples);
        }
    };
    let mut channel_list: Vec<(&NodeId, &Series)> = channels.iter().collect();
    channel_list.sort_by_key(|c| *c.0);
    for (&ch, s) in channel_list {
        times.clear();
        times.extend(s.points.iter().map(|p| p.0));
        for b in bursts(&times, sc) {
            channel_bursts.push((ch, b));
            let mut acc = Acc::default();
            examples(&mut acc, &s.points, &b);
            acc.node(ch);
            if let Some(&ix) = store.topology.index.get(ch.0 as usize) {
                for e in store
                    .topology
                    .graph
                    .edges_directed(ix, petgraph::Direction::Incoming)
                {
                    let w = e.weight();
                    if w.stage == Stage::Publish {
                        let a = w.times.partition_point(|&t| t < b.start);
                        let z = w.times.partition_point(|&t| t <= b.end);
                        if z > a {
                            acc.edge(w.from, w.to);
                        }
                    }
                }
            }
            out.push(storm_finding(
                store,
                acc,
                &b,
                format!("channel {}", name(store, ch)),
                None,
                rate,
            ));
        }
    }
    // Types: only bursts that no channel burst already explains.
    let mut type_list: Vec<(&Sym, &Series)> = types.iter().collect();
    type_list.sort_by_key(|t| *t.0);
    for (&ty, s) in type_list {
        times.clear();
        times.extend(s.points.iter().map(|p| p.0));
        for b in bursts(&times, sc) {
            let explained = channel_bursts.iter().any(|(ch, cb)| {
                cb.start < b.end
                    && b.start < cb.end
                    && s.points
                        .iter()
                        .skip(s.points.partition_point(|p| p.0 < b.start))
                        .take(1)
                        .any(|p| publish_channel(store, p.1) == Some(*ch))
            });
            if explained {
                continue;
            }
            let mut acc = Acc::default();
            examples(&mut acc, &s.points, &b);
            let ty_s = crate::analysis::report::clean(store.str(ty));
            out.push(storm_finding(
                store,
                acc,
                &b,
                format!("events of type {ty_s}"),
                Some(ty_s),
                rate,
            ));
        }
    }
    // Delivery edges (retry storms): bursts of deliveries the channel's publishes do not explain.
    for e in store.topology.edges_sorted() {
        if e.stage != Stage::Deliver || e.times.len() < sc.min_events as usize {
            continue;
        }
        for b in bursts(&e.times, sc) {
            if channel_bursts
                .iter()
                .any(|(ch, cb)| *ch == e.from && cb.start < b.end && b.start < cb.end)
            {
                continue;
            }
            let mut acc = Acc::default();
            let a = e.times.partition_point(|&t| t < b.start);
            let z = e.times.partition_point(|&t| t <= b.end);
            for &oi in &e.observations[a..z] {
                let o = &store.observations[oi as usize];
                acc.add(o.event, o.time, cfg.max_examples);
            }
            acc.edge(e.from, e.to);
            out.push(storm_finding(
                store,
                acc,
                &b,
                format!(
                    "deliveries from {} to {}",
                    name(store, e.from),
                    name(store, e.to)
                ),
                None,
                rate,
            ));
        }
    }
}

fn publish_channel(store: &Store, e: EventIdx) -> Option<NodeId> {
    store
        .observations_of(e)
        .iter()
        .map(|&i| &store.observations[i as usize])
        .find(|o| o.stage == Stage::Publish)
        .map(|o| o.to)
}

fn storm_finding(
    store: &Store,
    acc: Acc,
    b: &Burst,
    what: String,
    event_type: Option<String>,
    rate: impl Fn(f64) -> f64,
) -> Finding {
    let peak = rate(b.peak as f64);
    let base = rate(b.baseline);
    let secs = (b.end - b.start) as f64 / 1e9;
    let mut acc = acc;
    acc.count = b.events;
    acc.first = Some(b.start);
    acc.last = Some(b.end);
    acc.finish(
        store,
        Kind::Storm,
        Severity::Warning,
        format!("Storm of {what}: {peak}/s against a baseline of {base}/s"),
        format!(
            "{} events in {secs:.2} s ({} above the baseline), peaking at {peak} events/s, \
             {:.0}x the usual {base}/s (z = {:.1}). Find what released them (a batch job, a replay, retries without \
             backoff, a feedback loop) and protect consumers with rate limits, concurrency \
             caps and backoff.",
            b.events,
            b.excess,
            b.peak as f64 / b.baseline.max(1.0),
            b.z
        ),
        Evidence {
            window_start: Some(b.start),
            window_end: Some(b.end),
            peak_rate: Some(peak),
            baseline_rate: Some(base),
            z_score: Some((b.z * 100.0).round() / 100.0),
            event_type,
            ..Evidence::default()
        },
    )
}

/// The event that caused each event (`u32::MAX` for none): its `causationid`, else, in a
/// trace, the last event its publisher had begun to handle in that trace when it
/// published it.
pub(crate) fn causal_parents(store: &Store) -> Vec<u32> {
    let n = store.events.len();
    let mut parent: Vec<u32> = vec![u32::MAX; n];
    if store.events.iter().any(|e| !e.causation.is_none()) {
        let mut by_id: FxHashMap<Sym, u32> = FxHashMap::default();
        for (i, e) in store.events.iter().enumerate() {
            by_id.entry(e.id).or_insert(i as u32);
        }
        for (i, e) in store.events.iter().enumerate() {
            if let Some(&p) = by_id.get(&e.causation)
                && p as usize != i
            {
                parent[i] = p;
            }
        }
    }
    let mut handling: FxHashMap<(Sym, NodeId), u32> = FxHashMap::default();
    for o in &store.observations {
        if o.trace.is_none() {
            continue;
        }
        match o.stage {
            Stage::Handle => {
                handling.insert((o.trace, o.to), o.event.0);
            }
            Stage::Publish => {
                let e = o.event.0 as usize;
                if parent[e] == u32::MAX
                    && store.events[e].causation.is_none()
                    && let Some(&p) = handling.get(&(o.trace, o.from))
                    && p != o.event.0
                {
                    parent[e] = p;
                }
            }
            _ => {}
        }
    }
    parent
}

/// Feedback loops from causal evidence: an event of the same type as one of its causal
/// ancestors, handled by the same handler or published onto the same channel, came back
/// because of that ancestor. A cycle in the topology alone (two flows through one shared
/// bus) is not evidence. Severity follows the measured amplification and the number of
/// rounds: one round that ends is a warning.
pub(crate) fn feedback_loops(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    /// How far up a causal chain is followed (a deeper loop's amplification is counted
    /// from this far up).
    const MAX_DEPTH: usize = 256;
    let n = store.events.len();
    let parent = causal_parents(store);
    if parent.iter().all(|&p| p == u32::MAX) {
        return;
    }
    // Per event: the channel it was first published onto (and by whom), and the first
    // handler that handled it.
    let none = NodeId::NONE;
    let mut publish: Vec<(NodeId, NodeId)> = vec![(none, none); n];
    let mut handler: Vec<NodeId> = vec![none; n];
    for o in &store.observations {
        let e = o.event.0 as usize;
        match o.stage {
            Stage::Publish if publish[e].1 == none => publish[e] = (o.from, o.to),
            Stage::Handle if handler[e] == none => handler[e] = o.to,
            _ => {}
        }
    }
    struct Group {
        acc: Acc,
        roots: FxHashSet<u32>,
        rounds: u32,
    }
    let mut groups: FxHashMap<(NodeId, NodeId), Group> = FxHashMap::default();
    for e in 0..n {
        let ev = &store.events[e];
        if parent[e] == u32::MAX || ev.kind == EventKind::Call {
            continue;
        }
        let (from, channel) = publish[e];
        let h = handler[e];
        let mut rounds = 0u32;
        let mut root = None;
        let mut a = parent[e];
        for _ in 0..MAX_DEPTH {
            if a == u32::MAX || a as usize == e {
                break;
            }
            let ai = a as usize;
            if store.events[ai].ty == ev.ty
                && (channel != none && publish[ai].1 == channel || h != none && handler[ai] == h)
            {
                rounds += 1;
                root = Some(a);
            }
            a = parent[ai];
        }
        let Some(root) = root else { continue };
        let g = groups.entry((channel, h)).or_insert_with(|| Group {
            acc: Acc::default(),
            roots: FxHashSet::default(),
            rounds: 0,
        });
        let t = store
            .first_observation(EventIdx(e as u32))
            .map_or(0, |o| o.time);
        g.acc.add(EventIdx(e as u32), t, cfg.max_examples);
        if channel != none {
            g.acc.edge(from, channel);
            if h != none {
                g.acc.edge(channel, h);
            }
        }
        g.roots.insert(root);
        g.rounds = g.rounds.max(rounds);
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.acc.count));
    for g in groups {
        let internal = g.acc.count;
        let entering = g.roots.len() as u64;
        let amplification = internal as f64 / entering.max(1) as f64;
        let mut names: Vec<String> = Vec::new();
        for &(a, b) in &g.acc.edges {
            for id in [a, b] {
                let s = name(store, id);
                if !names.contains(&s) {
                    names.push(s);
                }
            }
        }
        let severity = if amplification >= 10.0 || g.rounds >= 3 {
            Severity::Error
        } else {
            Severity::Warning
        };
        let rounds = g.rounds;
        out.push(g.acc.finish(
            store,
            Kind::FeedbackLoop,
            severity,
            format!(
                "Feedback loop through {}: {} re-entered it ({:.1} per event entering, up to {} round{})",
                names.join(" -> "),
                plural(internal, "event", "events"),
                amplification,
                rounds,
                if rounds == 1 { "" } else { "s" }
            ),
            format!(
                "Events caused by an earlier event of the same type came back to the same \
                 handler or channel (followed through causationid, or the trace): {} \
                 event{} entered and {} came back, in up to {} rounds. Unless every path \
                 ends, this amplifies into a storm: stop the loop with a hop count, a \
                 causation check, or by publishing to a different channel.",
                entering,
                if entering == 1 { "" } else { "s" },
                internal,
                rounds
            ),
            Evidence {
                amplification: Some((amplification * 100.0).round() / 100.0),
                ..Evidence::default()
            },
        ));
    }
}

pub(crate) fn fan_out(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    let n = store.events.len();
    // Parent of each event: by causationid if any event has one, else the first event of
    // its trace.
    let mut parent: Vec<u32> = vec![u32::MAX; n];
    let mut any = false;
    if store.events.iter().any(|e| !e.causation.is_none()) {
        let mut by_id: FxHashMap<Sym, u32> = FxHashMap::default();
        for (i, e) in store.events.iter().enumerate() {
            by_id.entry(e.id).or_insert(i as u32);
        }
        for (i, e) in store.events.iter().enumerate() {
            if let Some(&p) = by_id.get(&e.causation)
                && p as usize != i
            {
                parent[i] = p;
                any = true;
            }
        }
    } else {
        // In one pass in time order: the first event seen in a trace is its root.
        let mut root_of: FxHashMap<Sym, u32> = FxHashMap::default();
        for o in &store.observations {
            if o.trace.is_none() {
                continue;
            }
            let root = *root_of.entry(o.trace).or_insert(o.event.0);
            let e = o.event.0 as usize;
            if o.event.0 != root && parent.get(e) == Some(&u32::MAX) {
                parent[e] = root;
                any = true;
            }
        }
    }
    if !any {
        return;
    }
    // Depth of each event (a causation cycle is cut where it closes), then subtree sizes
    // deepest first.
    const UNKNOWN: u32 = u32::MAX;
    const VISITING: u32 = u32::MAX - 1;
    let mut depth: Vec<u32> = vec![UNKNOWN; n];
    let mut stack: Vec<u32> = Vec::new();
    for i in 0..n {
        if depth[i] != UNKNOWN {
            continue;
        }
        stack.clear();
        let mut cur = i as u32;
        let mut d = loop {
            depth[cur as usize] = VISITING;
            stack.push(cur);
            let p = parent[cur as usize];
            if p == u32::MAX {
                break 0;
            }
            match depth[p as usize] {
                UNKNOWN => cur = p,
                VISITING => {
                    parent[cur as usize] = u32::MAX;
                    break 0;
                }
                dp => break dp + 1,
            }
        };
        while let Some(x) = stack.pop() {
            depth[x as usize] = d;
            d += 1;
        }
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by_key(|&i| std::cmp::Reverse(depth[i as usize]));
    let mut desc: Vec<u64> = vec![0; n];
    for &i in &order {
        let p = parent[i as usize];
        if p != u32::MAX {
            desc[p as usize] += 1 + desc[i as usize];
        }
    }
    let mut groups: FxHashMap<Sym, (Acc, u64)> = FxHashMap::default();
    for i in 0..n {
        if desc[i] <= cfg.fan_out {
            continue;
        }
        let p = parent[i];
        if p != u32::MAX && desc[p as usize] > cfg.fan_out {
            continue; // its origin is reported
        }
        let ev = EventIdx(i as u32);
        let first = store.first_observation(ev).copied();
        let g = groups.entry(store.events[i].ty).or_default();
        g.0.add(ev, first.map_or(0, |o| o.time), cfg.max_examples);
        if let Some(o) = first {
            g.0.edge(o.from, o.to);
        }
        g.1 = g.1.max(desc[i]);
    }
    for (ty, (acc, max_desc)) in groups {
        let ty_s = crate::analysis::report::clean(store.str(ty));
        let n = acc.count;
        out.push(acc.finish(
            store,
            Kind::FanOut,
            Severity::Warning,
            format!(
                "{} of type {ty_s} caused more than {} descendant events each (up to {max_desc})",
                plural(n, "event", "events"),
                cfg.fan_out
            ),
            format!(
                "One event set off a cascade of up to {max_desc} events (followed through \
                 causationid, or the trace). Large fan-out multiplies load and failure \
                 impact; batch the work, bound the fan-out, or make sure it is intended."
            ),
            Evidence {
                max_descendants: Some(max_desc),
                event_type: Some(ty_s),
                ..Evidence::default()
            },
        ));
    }
}
