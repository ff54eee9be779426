//! A left-to-right layered (Sugiyama-style) layout of the topology: cycles broken with
//! petgraph's greedy feedback arc set, layers by longest path from the sources, order within
//! a layer by barycentre sweeps, then coordinates. Computed when the node/edge set changes,
//! not per frame; positions are in abstract layout units (the caller scales them).

use crate::model::{NodeId, NodeKind, Store};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use rustc_hash::FxHashMap;

/// Horizontal distance between layers, in layout units.
pub const LAYER_GAP: f32 = 290.0;
/// Vertical distance between nodes of a layer.
pub const ROW_GAP: f32 = 130.0;

/// A node's place in the layout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub id: NodeId,
    pub layer: u32,
    /// Position within the layer, top first.
    pub order: u32,
    /// Centre of the node.
    pub x: f32,
    pub y: f32,
}

/// The layout of one node/edge set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphLayout {
    pub nodes: Vec<Placed>,
    pub layers: u32,
    /// Bounding box of the node centres: (min x, min y, max x, max y).
    pub bounds: (f32, f32, f32, f32),
    /// The node and edge set this layout was computed for (see [`LayoutKey::of`]).
    pub key: LayoutKey,
}

/// Identifies a node/edge set, so a layout is recomputed only when it changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LayoutKey {
    pub nodes: Vec<NodeId>,
    pub edges: Vec<(NodeId, NodeId)>,
}

impl LayoutKey {
    /// The nodes that have observations (or that a broker declared) and the edges of the store's topology.
    pub fn of(store: &Store) -> LayoutKey {
        let mut edges: Vec<(NodeId, NodeId)> = store
            .topology
            .graph
            .edge_weights()
            .map(|e| (e.from, e.to))
            .collect();
        edges.sort();
        let mut nodes: Vec<NodeId> = store
            .topology
            .graph
            .node_weights()
            .filter(|n| n.observations > 0 || n.declared)
            .map(|n| n.id)
            .collect();
        nodes.sort();
        LayoutKey { nodes, edges }
    }
}

impl GraphLayout {
    pub fn position(&self, id: NodeId) -> Option<(f32, f32)> {
        self.nodes.iter().find(|p| p.id == id).map(|p| (p.x, p.y))
    }

    /// Lays out a store's topology. `kinds` nudges layering: stores and dead-letter
    /// destinations go after the nodes that feed them, which longest-path already does.
    pub fn of_store(store: &Store) -> GraphLayout {
        let key = LayoutKey::of(store);
        let kinds: FxHashMap<NodeId, NodeKind> = key
            .nodes
            .iter()
            .filter_map(|&id| Some((id, store.nodes.get(id.0 as usize)?.kind)))
            .collect();
        Self::compute(key, &kinds)
    }

    /// Lays out any node/edge set.
    pub fn compute(key: LayoutKey, kinds: &FxHashMap<NodeId, NodeKind>) -> GraphLayout {
        let mut g: DiGraph<NodeId, ()> = DiGraph::new();
        let mut idx: FxHashMap<NodeId, NodeIndex> = FxHashMap::default();
        for &n in &key.nodes {
            idx.insert(n, g.add_node(n));
        }
        for &(a, b) in &key.edges {
            for n in [a, b] {
                idx.entry(n).or_insert_with(|| g.add_node(n));
            }
            if a != b {
                g.add_edge(idx[&a], idx[&b], ());
            }
        }
        let n = g.node_count();
        if n == 0 {
            return GraphLayout {
                key,
                ..Default::default()
            };
        }
        // Break cycles: reverse a (small) feedback arc set so layering sees a DAG.
        let reversed: rustc_hash::FxHashSet<_> = petgraph::algo::greedy_feedback_arc_set(&g)
            .map(|e| e.id())
            .collect();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in g.edge_references() {
            let (mut a, mut b) = (e.source().index(), e.target().index());
            if reversed.contains(&e.id()) {
                std::mem::swap(&mut a, &mut b);
            }
            succ[a].push(b);
            pred[b].push(a);
        }
        // Longest path layering in topological order (Kahn).
        let mut indeg: Vec<usize> = pred.iter().map(Vec::len).collect();
        let mut queue: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        queue.sort_by_key(|&i| (rank_hint(kinds.get(&g[NodeIndex::new(i)])), i));
        let mut layer = vec![0u32; n];
        let mut head = 0;
        while head < queue.len() {
            let v = queue[head];
            head += 1;
            for &w in &succ[v] {
                layer[w] = layer[w].max(layer[v] + 1);
                indeg[w] -= 1;
                if indeg[w] == 0 {
                    queue.push(w);
                }
            }
        }
        let layers = layer.iter().copied().max().unwrap_or(0) + 1;
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers as usize];
        for v in 0..n {
            rows[layer[v] as usize].push(v);
        }
        for r in &mut rows {
            r.sort_by_key(|&v| {
                (
                    rank_hint(kinds.get(&g[NodeIndex::new(v)])),
                    g[NodeIndex::new(v)],
                )
            });
        }
        // Barycentre sweeps, down then up, to reduce crossings.
        let mut pos = vec![0f32; n];
        let set_pos = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f32>| {
            for r in rows {
                for (i, &v) in r.iter().enumerate() {
                    pos[v] = i as f32;
                }
            }
        };
        set_pos(&rows, &mut pos);
        for sweep in 0..8 {
            let down = sweep % 2 == 0;
            let order: Vec<usize> = if down {
                (1..rows.len()).collect()
            } else {
                (0..rows.len().saturating_sub(1)).rev().collect()
            };
            for li in order {
                let mut keyed: Vec<(f32, usize)> = rows[li]
                    .iter()
                    .map(|&v| {
                        let nb = if down { &pred[v] } else { &succ[v] };
                        let bc = if nb.is_empty() {
                            pos[v]
                        } else {
                            nb.iter().map(|&u| pos[u]).sum::<f32>() / nb.len() as f32
                        };
                        (bc, v)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                rows[li] = keyed.into_iter().map(|k| k.1).collect();
                for (i, &v) in rows[li].iter().enumerate() {
                    pos[v] = i as f32;
                }
            }
        }
        let mut nodes = Vec::with_capacity(n);
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (li, r) in rows.iter().enumerate() {
            let h = (r.len() as f32 - 1.0) * ROW_GAP;
            for (i, &v) in r.iter().enumerate() {
                let x = li as f32 * LAYER_GAP;
                let y = i as f32 * ROW_GAP - h / 2.0;
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                nodes.push(Placed {
                    id: g[NodeIndex::new(v)],
                    layer: li as u32,
                    order: i as u32,
                    x,
                    y,
                });
            }
        }
        nodes.sort_by_key(|p| p.id);
        GraphLayout {
            nodes,
            layers,
            bounds: (x0, y0, x1, y1),
            key,
        }
    }
}

fn rank_hint(kind: Option<&NodeKind>) -> u8 {
    match kind {
        Some(NodeKind::Service | NodeKind::Producer) => 0,
        Some(NodeKind::Channel) => 1,
        Some(NodeKind::Handler) => 2,
        Some(NodeKind::Store) => 3,
        Some(NodeKind::DeadLetter) => 4,
        None => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_scenario_reads_left_to_right() {
        let (p, bus, a, b, rm) = (NodeId(0), NodeId(1), NodeId(2), NodeId(3), NodeId(4));
        let key = LayoutKey {
            nodes: vec![p, bus, a, b, rm],
            edges: vec![(p, bus), (bus, a), (bus, b), (a, rm), (b, rm)],
        };
        let l = GraphLayout::compute(key, &FxHashMap::default());
        let x = |id| l.position(id).map(|p| p.0);
        assert!(x(p) < x(bus) && x(bus) < x(a) && x(a) < x(rm));
        assert_eq!(x(a), x(b));
        assert_eq!(l.layers, 4);
    }

    #[test]
    fn cycles_do_not_break_layout() {
        let key = LayoutKey {
            nodes: vec![NodeId(0), NodeId(1), NodeId(2)],
            edges: vec![
                (NodeId(0), NodeId(1)),
                (NodeId(1), NodeId(2)),
                (NodeId(2), NodeId(1)),
            ],
        };
        let l = GraphLayout::compute(key, &FxHashMap::default());
        assert_eq!(l.nodes.len(), 3);
    }
}
