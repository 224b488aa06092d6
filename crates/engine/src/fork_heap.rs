//! The heap of a freshly forked monitor.
//!
//! The monitor is a fork of the CLI: every heap page it inherits is shared copy-on-write with
//! the CLI, and glibc's malloc/free touch pages all over that heap (chunk headers, free-list
//! links of neighbours), so each of them cost the monitor a page fault and a 4 KB copy, and the
//! container init (a clone of the monitor) the same again. After [`enter`], allocations come
//! from a fresh anonymous arena instead, one page after the other, and frees of inherited
//! memory are skipped (it is the CLI's, which exits soon; writing to it is what costs). Freeing
//! the latest arena allocation gives its space back, so short-lived temporaries reuse pages.
//!
//! Without [`enter`] (the CLI, the tests, every other process) this is the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Address space reserved for the arena (not memory: pages exist once touched). A monitor
/// that outgrows it goes on with the system allocator.
const SIZE: usize = 64 << 20;

static ON: AtomicBool = AtomicBool::new(false);
static BASE: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Heap;

/// Switches this process to the arena. Call right after `fork`, in the child, before it
/// allocates; a failure to map the arena leaves the system allocator in place.
pub fn enter() {
    // SAFETY: a private anonymous mapping nothing else refers to.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return;
    }
    BASE.store(p as usize, Ordering::Relaxed);
    NEXT.store(p as usize, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
}

/// Back to the system allocator for new allocations (a monitor that stays for long, e.g.
/// with the embedded DNS, must not grow the arena forever). Arena blocks stay valid.
pub fn leave() {
    ON.store(false, Ordering::Release);
}

fn in_arena(p: usize) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    base != 0 && p >= base && p < base + SIZE
}

/// A block from the arena, or null when it is full.
fn bump(l: Layout) -> *mut u8 {
    let end = BASE.load(Ordering::Relaxed) + SIZE;
    let mut cur = NEXT.load(Ordering::Relaxed);
    loop {
        let start = (cur + l.align() - 1) & !(l.align() - 1);
        let next = start + l.size();
        if next > end {
            return std::ptr::null_mut();
        }
        match NEXT.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return start as *mut u8,
            Err(c) => cur = c,
        }
    }
}

// SAFETY: arena blocks are disjoint (one atomic bump pointer) and aligned as asked; every
// other block is the system allocator's and goes back to it (or is deliberately leaked).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            let p = bump(l);
            if !p.is_null() {
                return p;
            }
        }
        System.alloc(l)
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            let p = bump(l);
            if !p.is_null() {
                // Given back and reused space is not zero any more.
                std::ptr::write_bytes(p, 0, l.size());
                return p;
            }
        }
        System.alloc_zeroed(l)
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let a = p as usize;
        if in_arena(a) {
            // Only the latest block can be given back; others stay until exit or exec.
            let _ = NEXT.compare_exchange(a + l.size(), a, Ordering::AcqRel, Ordering::Relaxed);
            return;
        }
        if ON.load(Ordering::Relaxed) {
            return;
        }
        System.dealloc(p, l)
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let a = p as usize;
        let arena = in_arena(a);
        if arena {
            // The latest block grows or shrinks in place.
            let end = BASE.load(Ordering::Relaxed) + SIZE;
            if a + new_size <= end
                && NEXT
                    .compare_exchange(
                        a + l.size(),
                        a + new_size,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return p;
            }
        } else if !ON.load(Ordering::Relaxed) {
            return System.realloc(p, l, new_size);
        }
        // SAFETY (caller's contract): new_size rounded to the alignment does not overflow.
        let nl = Layout::from_size_align_unchecked(new_size, l.align());
        let np = self.alloc(nl);
        if !np.is_null() {
            std::ptr::copy_nonoverlapping(p, np, l.size().min(new_size));
            self.dealloc(p, l);
        }
        np
    }
}
