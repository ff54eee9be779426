//! String interning: every repeated string of the model (sources, types, channel names,
//! ids) is stored once and referred to by a 4-byte [`Sym`].

use rustc_hash::FxHashMap;

/// An interned string. `Sym::NONE` stands for "absent".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sym(pub u32);

impl Sym {
    pub const NONE: Sym = Sym(u32::MAX);
    pub fn is_none(self) -> bool {
        self == Sym::NONE
    }
    pub fn some(self) -> Option<Sym> {
        if self.is_none() { None } else { Some(self) }
    }
}

/// Strings live in one arena; the map goes from hash of the bytes to candidate syms.
#[derive(Default, Clone)]
pub struct Interner {
    arena: String,
    spans: Vec<(u32, u32)>,
    map: FxHashMap<u64, SmallSyms>,
}

#[derive(Clone)]
enum SmallSyms {
    One(Sym),
    Many(Vec<Sym>),
}

/// The hash the interner files a string under.
pub fn hash_str(s: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(s.as_bytes());
    h.finish()
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        let h = hash_str(s);
        if let Some(c) = self.map.get(&h) {
            match c {
                SmallSyms::One(sym) if self.resolve(*sym) == s => return *sym,
                SmallSyms::Many(v) => {
                    for sym in v {
                        if self.resolve(*sym) == s {
                            return *sym;
                        }
                    }
                }
                SmallSyms::One(_) => {}
            }
        }
        let sym = Sym(self.spans.len() as u32);
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        self.spans.push((start, s.len() as u32));
        match self.map.get_mut(&h) {
            None => {
                self.map.insert(h, SmallSyms::One(sym));
            }
            Some(SmallSyms::One(prev)) => {
                let prev = *prev;
                self.map.insert(h, SmallSyms::Many(vec![prev, sym]));
            }
            Some(SmallSyms::Many(v)) => v.push(sym),
        }
        sym
    }

    /// Reserves room to grow `factor` times (see `Store::reserve_for`).
    pub fn reserve_for(&mut self, factor: f64) {
        let more = |len: usize| (len as f64 * (factor - 1.0).max(0.0)) as usize;
        self.arena.reserve(more(self.arena.len()));
        self.spans.reserve(more(self.spans.len()));
        self.map.reserve(more(self.map.len()));
    }

    pub fn intern_opt(&mut self, s: Option<&str>) -> Sym {
        s.map_or(Sym::NONE, |s| self.intern(s))
    }

    /// Stores a string that is known to be unique (a `traceparent`, say) without filing it
    /// for lookup: [`Interner::get`] will not find it, [`Interner::resolve`] will.
    pub fn push_unique(&mut self, s: &str) -> Sym {
        let sym = Sym(self.spans.len() as u32);
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        self.spans.push((start, s.len() as u32));
        sym
    }

    /// Looks a string up without adding it.
    pub fn get(&self, s: &str) -> Option<Sym> {
        match self.map.get(&hash_str(s))? {
            SmallSyms::One(sym) => (self.resolve(*sym) == s).then_some(*sym),
            SmallSyms::Many(v) => v.iter().copied().find(|sym| self.resolve(*sym) == s),
        }
    }

    /// The string of a sym; `""` for `Sym::NONE`.
    pub fn resolve(&self, sym: Sym) -> &str {
        match self.spans.get(sym.0 as usize) {
            Some(&(start, len)) => &self.arena[start as usize..(start + len) as usize],
            None => "",
        }
    }

    pub fn resolve_opt(&self, sym: Sym) -> Option<&str> {
        sym.some().map(|s| self.resolve(s))
    }

    /// Gives back spare capacity (after a compaction).
    pub fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.spans.shrink_to_fit();
        self.map.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interns_once() {
        let mut i = super::Interner::default();
        let a = i.intern("orders");
        let b = i.intern("payments");
        assert_eq!(i.intern("orders"), a);
        assert_ne!(a, b);
        assert_eq!(i.resolve(b), "payments");
        assert_eq!(i.get("payments"), Some(b));
        assert_eq!(i.get("nope"), None);
        assert_eq!(i.resolve(super::Sym::NONE), "");
    }
}
