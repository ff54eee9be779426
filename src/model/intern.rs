//! String interning: every repeated string of the model (sources, types, channel names,
//! ids) is stored once and referred to by a 4-byte [`Sym`].

use hashbrown::HashTable;

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

/// Strings live in arenas of at most 4 GiB each (a span's offset is 32 bits); the table
/// holds bare syms, found by the hash of their bytes (4 bytes and a control byte a slot:
/// a map from hash to syms took 32, and most of a plain CloudEvents load's memory went to
/// its ids and subjects).
#[derive(Clone)]
pub struct Interner {
    arenas: Vec<String>,
    /// The first sym of each arena, ascending.
    firsts: Vec<u32>,
    /// Offset and length in the sym's arena.
    spans: Vec<(u32, u32)>,
    map: HashTable<Sym>,
    /// Bytes an arena holds at most: `u32::MAX`, less in tests.
    arena_cap: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            arenas: Vec::new(),
            firsts: Vec::new(),
            spans: Vec::new(),
            map: HashTable::new(),
            arena_cap: u32::MAX as usize,
        }
    }
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
        if let Some(&sym) = self.map.find(h, |&sym| self.resolve(sym) == s) {
            return sym;
        }
        let sym = self.push(s);
        let Interner {
            arenas,
            firsts,
            spans,
            map,
            ..
        } = self;
        map.insert_unique(h, sym, |&sym| {
            hash_str(resolve_in(arenas, firsts, spans, sym))
        });
        sym
    }

    /// Reserves room to grow `factor` times (see `Store::reserve_for`).
    pub fn reserve_for(&mut self, factor: f64) {
        let more = |len: usize| (len as f64 * (factor - 1.0).max(0.0)) as usize;
        if let Some(a) = self.arenas.last_mut() {
            let room = self.arena_cap.saturating_sub(a.len());
            a.reserve(more(a.len()).min(room));
        }
        self.spans.reserve(more(self.spans.len()));
        let Interner {
            arenas,
            firsts,
            spans,
            map,
            ..
        } = self;
        map.reserve(more(map.len()), |&sym| {
            hash_str(resolve_in(arenas, firsts, spans, sym))
        });
    }

    pub fn intern_opt(&mut self, s: Option<&str>) -> Sym {
        s.map_or(Sym::NONE, |s| self.intern(s))
    }

    /// Stores a string that is known to be unique (a `traceparent`, say) without filing it
    /// for lookup: [`Interner::get`] will not find it, [`Interner::resolve`] will.
    pub fn push_unique(&mut self, s: &str) -> Sym {
        self.push(s)
    }

    /// Appends the bytes to the last arena, or to a new one when they would take it past
    /// its cap. A string longer than the cap (records are capped far below 4 GiB) is cut at
    /// a character boundary.
    fn push(&mut self, s: &str) -> Sym {
        let sym = Sym(self.spans.len() as u32);
        let mut end = s.len().min(self.arena_cap);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let s = &s[..end];
        let full = self
            .arenas
            .last()
            .is_none_or(|a| a.len() + s.len() > self.arena_cap);
        if full {
            self.arenas.push(String::new());
            self.firsts.push(sym.0);
        }
        let start = match self.arenas.last_mut() {
            Some(a) => {
                let start = a.len() as u32;
                a.push_str(s);
                start
            }
            None => 0,
        };
        self.spans.push((start, s.len() as u32));
        sym
    }

    /// Looks a string up without adding it.
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.map
            .find(hash_str(s), |&sym| self.resolve(sym) == s)
            .copied()
    }

    /// The string of a sym; `""` for `Sym::NONE`.
    pub fn resolve(&self, sym: Sym) -> &str {
        resolve_in(&self.arenas, &self.firsts, &self.spans, sym)
    }

    pub fn resolve_opt(&self, sym: Sym) -> Option<&str> {
        sym.some().map(|s| self.resolve(s))
    }

    /// Gives back spare capacity (after a compaction).
    pub fn shrink_to_fit(&mut self) {
        self.arenas.iter_mut().for_each(String::shrink_to_fit);
        self.spans.shrink_to_fit();
        let Interner {
            arenas,
            firsts,
            spans,
            map,
            ..
        } = self;
        map.shrink_to_fit(|&sym| hash_str(resolve_in(arenas, firsts, spans, sym)));
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// [`Interner::resolve`] on the interner's parts, for the table's rehashing while it is
/// borrowed.
fn resolve_in<'a>(arenas: &'a [String], firsts: &[u32], spans: &[(u32, u32)], sym: Sym) -> &'a str {
    let Some(&(start, len)) = spans.get(sym.0 as usize) else {
        return "";
    };
    let arena = if firsts.len() <= 1 {
        0
    } else {
        firsts.partition_point(|&f| f <= sym.0).saturating_sub(1)
    };
    let (start, len) = (start as usize, len as usize);
    arenas
        .get(arena)
        .and_then(|a| a.get(start..start + len))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    /// Past an arena's cap (4 GiB; 16 bytes here) strings go on in a new arena and every
    /// sym still resolves and is found: offsets never wrap onto another string.
    #[test]
    fn strings_past_an_arenas_cap_go_on_in_the_next() {
        let mut i = super::Interner {
            arena_cap: 16,
            ..Default::default()
        };
        let words: Vec<String> = (0..40)
            .map(|k| format!("w{k}-{}", "é".repeat(k % 5)))
            .collect();
        let syms: Vec<_> = words.iter().map(|w| i.intern(w)).collect();
        assert!(i.arenas.len() > 5, "{} arenas", i.arenas.len());
        assert!(i.arenas.iter().all(|a| a.len() <= 16));
        for (w, &sym) in words.iter().zip(&syms) {
            assert_eq!(i.resolve(sym), w);
            assert_eq!(i.get(w), Some(sym));
            assert_eq!(i.intern(w), sym);
        }
        // Longer than an arena: cut at a character boundary, never split inside one.
        let long = "ü".repeat(20);
        let sym = i.intern(&long);
        assert_eq!(i.resolve(sym), "ü".repeat(8));
        assert_eq!(i.resolve(syms[0]), words[0]);
    }

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
