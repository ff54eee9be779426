//! One flow series drawn straight into a mesh: the band from each bin's lowest to its
//! highest window and the line of the highest, a quad per bin. With one bin per point of
//! width a polyline would have thousands of points, which egui strokes and feathers every
//! frame; a mesh goes to the GPU as it is, and is kept while neither the bins nor the view
//! change (as while playing).

use super::DecimationKey;
use crate::analysis::series::Bin;
use egui::Color32;

/// Meshes by series index, with what they were built for.
pub(super) type MeshCache = std::cell::RefCell<Vec<(usize, MeshKey, std::sync::Arc<egui::Mesh>)>>;

/// What a series' mesh depends on: its bins, its look, and the plot's transform.
#[derive(Clone, Copy, PartialEq)]
pub(super) struct MeshKey {
    pub(super) bins: DecimationKey,
    pub(super) color: Color32,
    pub(super) dashed: bool,
    pub(super) frame: egui::Rect,
    pub(super) bounds: [f64; 4],
}

/// One series drawn straight into a mesh: the band from each bin's lowest to its highest
/// window, and the line of the highest, a quad per bin. One bin per point of width makes
/// a polyline of thousands of points, which egui would stroke and feather every frame; a
/// mesh goes to the GPU as it is. Bins without data leave a gap.
pub(super) struct Envelope<'a> {
    pub(super) base: egui_plot::PlotItemBase,
    /// The series (index in its grouping), its bins' key, and where its mesh is kept.
    pub(super) series: usize,
    pub(super) key: DecimationKey,
    pub(super) cache: &'a MeshCache,
    pub(super) bins: &'a [Option<Bin>],
    /// Left edge of bin 0 and the bin width, in seconds since the origin.
    pub(super) x0: f64,
    pub(super) bin_secs: f64,
    /// Events per second of a count of one in a window.
    pub(super) per_count: f64,
    pub(super) color: Color32,
    pub(super) dashed: bool,
}

impl egui_plot::PlotItem for Envelope<'_> {
    fn shapes(&self, _ui: &egui::Ui, t: &egui_plot::PlotTransform, shapes: &mut Vec<egui::Shape>) {
        let b = t.bounds();
        let key = MeshKey {
            bins: self.key,
            color: self.color,
            dashed: self.dashed,
            frame: *t.frame(),
            bounds: [b.min()[0], b.min()[1], b.max()[0], b.max()[1]],
        };
        let mut cache = self.cache.borrow_mut();
        if let Some((_, _, mesh)) = cache
            .iter()
            .find(|(i, k, _)| *i == self.series && *k == key)
        {
            shapes.push(egui::Shape::Mesh(mesh.clone()));
            return;
        }
        let mesh = std::sync::Arc::new(self.mesh(t));
        cache.retain(|(i, _, _)| *i != self.series);
        cache.push((self.series, key, mesh.clone()));
        if !mesh.is_empty() {
            shapes.push(egui::Shape::Mesh(mesh));
        }
    }

    fn initialize(&mut self, _x_range: std::ops::RangeInclusive<f64>) {}

    fn color(&self) -> Color32 {
        self.color
    }

    fn geometry(&self) -> egui_plot::PlotGeometry<'_> {
        egui_plot::PlotGeometry::None
    }

    fn bounds(&self) -> egui_plot::PlotBounds {
        // The plot's bounds are set explicitly.
        egui_plot::PlotBounds::NOTHING
    }

    fn base(&self) -> &egui_plot::PlotItemBase {
        &self.base
    }

    fn base_mut(&mut self) -> &mut egui_plot::PlotItemBase {
        &mut self.base
    }
}

impl Envelope<'_> {
    fn mesh(&self, t: &egui_plot::PlotTransform) -> egui::Mesh {
        let fill = self.color.gamma_multiply(0.22);
        let half = 0.75;
        let left = t.frame().left();
        let mut mesh = egui::Mesh::default();
        mesh.reserve_vertices(self.bins.len() * 6);
        mesh.reserve_triangles(self.bins.len() * 4);
        // The previous bin: x, y of its peak, index of its two band vertices.
        let mut prev: Option<(f32, f32, u32)> = None;
        for (i, b) in self.bins.iter().enumerate() {
            let Some(b) = b else {
                prev = None;
                continue;
            };
            let x = t.position_from_point_x(self.x0 + (i as f64 + 0.5) * self.bin_secs);
            let y_low = t.position_from_point_y(b.low as f64 * self.per_count);
            let y_peak = t.position_from_point_y(b.peak as f64 * self.per_count);
            let v = mesh.vertices.len() as u32;
            mesh.colored_vertex(egui::pos2(x, y_peak), fill);
            mesh.colored_vertex(egui::pos2(x, y_low), fill);
            let (px, py) = match prev {
                Some((px, py, pv)) => {
                    mesh.add_triangle(pv, pv + 1, v);
                    mesh.add_triangle(pv + 1, v + 1, v);
                    (px, py)
                }
                // A bin alone: a short flat stroke.
                None => (x - 1.0, y_peak),
            };
            let on = !self.dashed || ((x - left) as i32).rem_euclid(10) < 6;
            if on {
                // A quad as thick across the segment whatever its slope, so the rise of a
                // burst shows as well as its top.
                let d = egui::vec2(x - px, y_peak - py);
                let n = egui::vec2(-d.y, d.x) / d.length().max(1e-3) * half;
                let l = mesh.vertices.len() as u32;
                for p in [
                    egui::pos2(px, py) - n,
                    egui::pos2(px, py) + n,
                    egui::pos2(x, y_peak) - n,
                    egui::pos2(x, y_peak) + n,
                ] {
                    mesh.colored_vertex(p, self.color);
                }
                mesh.add_triangle(l, l + 1, l + 2);
                mesh.add_triangle(l + 1, l + 3, l + 2);
            }
            prev = Some((x, y_peak, v));
        }
        mesh
    }
}
