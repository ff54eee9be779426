//! The process's allocator: mimalloc, except for very large blocks, which are mapped
//! straight from the kernel so that growing them moves pages instead of copying bytes.
//!
//! Why: the live store's columns (events, observations, the payload arena, the interned
//! strings) are vectors that grow for as long as a session runs, and are copied once per
//! snapshot when no store comes back from the window. Through mimalloc, each doubling of a
//! vector of hundreds of megabytes is a fresh allocation, a copy of everything so far, and
//! page faults on all of the new memory; a copy made by `clone` has no spare room, so its
//! first push doubles it at once. Under `perf`, with a NATS source at 100,000 messages/s,
//! those reallocations were more than half of the live worker's time. Blocks of
//! [`BIG`] bytes or more are `mmap`ed instead and grown with `mremap`, which moves the
//! pages already written and faults in only what is touched next.
//!
//! Which allocator owns a block follows from its layout alone (its size and alignment,
//! which Rust passes again to `dealloc` and `realloc`), so nothing is recorded per block.
//! Outside Linux (no `mremap`) everything goes to mimalloc.

use std::alloc::{GlobalAlloc, Layout};

/// Blocks at least this large (and aligned to at most a page) are mapped. Far above what
/// a frame or a parse allocates and frees again, where mimalloc's reuse is faster than the
/// kernel.
pub const BIG: usize = 32 << 20;

/// mimalloc, with blocks of [`BIG`] bytes or more mapped and remapped (see the module).
pub struct Allocator;

#[cfg(target_os = "linux")]
mod big {
    use std::ptr::null_mut;

    /// The page size mappings are rounded to (alignment of a mapped block at most this).
    pub const PAGE: usize = 4096;

    pub fn mapped_len(size: usize) -> Option<usize> {
        size.checked_add(PAGE - 1).map(|s| s & !(PAGE - 1))
    }

    /// A fresh zeroed mapping of at least `size` bytes, or null.
    ///
    /// # Safety
    /// The block must be given back with [`unmap`] or [`remap`] and the same `size`.
    pub unsafe fn map(size: usize) -> *mut u8 {
        let Some(len) = mapped_len(size) else {
            return null_mut();
        };
        // SAFETY: an anonymous private mapping at an address of the kernel's choice.
        let p = unsafe {
            libc::mmap(
                null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            null_mut()
        } else {
            p.cast()
        }
    }

    /// Unmaps a block [`map`] or [`remap`] gave for `size` bytes.
    ///
    /// # Safety
    /// `ptr` is such a block, of that `size`, not used after.
    pub unsafe fn unmap(ptr: *mut u8, size: usize) {
        if let Some(len) = mapped_len(size) {
            // SAFETY: the caller's block is exactly this mapping.
            unsafe { libc::munmap(ptr.cast(), len) };
        }
    }

    /// Grows or shrinks a mapped block, moving it if it must; null if it cannot (the old
    /// block is then left as it was).
    ///
    /// # Safety
    /// `ptr` is a block [`map`] or [`remap`] gave for `old` bytes; on success it is not
    /// used after, and the new block is given back with `new` as its size.
    pub unsafe fn remap(ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
        let (Some(old_len), Some(new_len)) = (mapped_len(old), mapped_len(new)) else {
            return null_mut();
        };
        if old_len == new_len {
            return ptr;
        }
        // SAFETY: the caller's block is exactly the old mapping.
        let p = unsafe { libc::mremap(ptr.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
        if p == libc::MAP_FAILED {
            null_mut()
        } else {
            p.cast()
        }
    }
}

#[cfg(target_os = "linux")]
#[inline]
fn is_big(size: usize, align: usize) -> bool {
    size >= BIG && align <= big::PAGE
}

#[cfg(not(target_os = "linux"))]
#[inline]
fn is_big(_size: usize, _align: usize) -> bool {
    false
}

// SAFETY: every block is given back to the allocator that made it: which one follows from
// the layout, the same at `alloc`, `realloc` and `dealloc`; a block that moves between
// them in `realloc` is copied and freed by its old owner.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        #[cfg(target_os = "linux")]
        if is_big(layout.size(), layout.align()) {
            // SAFETY: a fresh mapping.
            return unsafe { big::map(layout.size()) };
        }
        // SAFETY: forwarded as given.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        #[cfg(target_os = "linux")]
        if is_big(layout.size(), layout.align()) {
            // SAFETY: anonymous mappings are zeroed by the kernel.
            return unsafe { big::map(layout.size()) };
        }
        // SAFETY: forwarded as given.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        #[cfg(target_os = "linux")]
        if is_big(layout.size(), layout.align()) {
            // SAFETY: a big layout's block is a mapping of its size.
            unsafe { big::unmap(ptr, layout.size()) };
            return;
        }
        // SAFETY: forwarded as given.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (was, will) = (
            is_big(layout.size(), layout.align()),
            is_big(new_size, layout.align()),
        );
        #[cfg(target_os = "linux")]
        if was && will {
            // SAFETY: a big layout's block is a mapping of its size.
            return unsafe { big::remap(ptr, layout.size(), new_size) };
        }
        if !was && !will {
            // SAFETY: forwarded as given.
            return unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        }
        // From one owner to the other: a new block, the bytes both hold, the old one freed.
        // SAFETY: `new_size` is nonzero and, with the old alignment, a valid layout (the
        // caller's contract for `realloc`).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid layout.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least this many bytes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The allocator under test, called directly (the tests' own global allocator is the
    /// system's).
    fn with<T>(f: impl FnOnce(&Allocator) -> T) -> T {
        f(&Allocator)
    }

    #[test]
    fn blocks_keep_their_bytes_as_they_grow_and_shrink_across_the_threshold() {
        with(|a| unsafe {
            let small = Layout::from_size_align(1000, 8).expect("layout");
            let p = a.alloc(small);
            assert!(!p.is_null());
            for i in 0..1000 {
                *p.add(i) = (i % 251) as u8;
            }
            // Small to big: copied into a mapping.
            let p = a.realloc(p, small, BIG + 12_345);
            assert!(!p.is_null());
            let big = Layout::from_size_align(BIG + 12_345, 8).expect("layout");
            for i in 0..1000 {
                assert_eq!(*p.add(i), (i % 251) as u8);
            }
            // Fill the end too, then grow by remapping: every byte stays.
            *p.add(BIG + 12_344) = 7;
            let p = a.realloc(p, big, 3 * BIG);
            assert!(!p.is_null());
            let bigger = Layout::from_size_align(3 * BIG, 8).expect("layout");
            assert_eq!(*p.add(999), (999 % 251) as u8);
            assert_eq!(*p.add(BIG + 12_344), 7);
            // What the remap added reads as zero and can be written.
            assert_eq!(*p.add(3 * BIG - 1), 0);
            *p.add(3 * BIG - 1) = 9;
            // Big to small: copied back out of the mapping.
            let p = a.realloc(p, bigger, 500);
            assert!(!p.is_null());
            for i in 0..500 {
                assert_eq!(*p.add(i), (i % 251) as u8);
            }
            a.dealloc(p, Layout::from_size_align(500, 8).expect("layout"));
        });
    }

    #[test]
    fn big_zeroed_blocks_are_zero_and_over_aligned_ones_stay_with_mimalloc() {
        with(|a| unsafe {
            let l = Layout::from_size_align(BIG * 2, 64).expect("layout");
            let p = a.alloc_zeroed(l);
            assert!(!p.is_null());
            assert!((0..BIG * 2).step_by(4093).all(|i| *p.add(i) == 0));
            assert_eq!(p as usize % 64, 0);
            a.dealloc(p, l);
            // More than a page of alignment: not a mapping, still aligned.
            let l = Layout::from_size_align(BIG, 1 << 16).expect("layout");
            let p = a.alloc(l);
            assert!(!p.is_null());
            assert_eq!(p as usize % (1 << 16), 0);
            let p = a.realloc(p, l, BIG * 2);
            assert!(!p.is_null());
            assert_eq!(p as usize % (1 << 16), 0);
            a.dealloc(
                p,
                Layout::from_size_align(BIG * 2, 1 << 16).expect("layout"),
            );
        });
    }
}
