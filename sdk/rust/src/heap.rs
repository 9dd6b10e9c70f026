//! The zome's global allocator (wasm32 only): size classes over a bump heap that starts at
//! `__heap_base`.
//!
//! Why not the standard allocator: on `wasm32-unknown-unknown` it grows memory for its
//! first allocation, leaving the space between `__heap_base` and the end of the initial
//! memory unused. The host reuses an instance only while its memory has its initial size
//! (`host/zomehost/ribosome/reset.py`), so a zome whose first call already grows memory
//! gets a fresh instance for every call. This allocator serves small calls from that
//! space and grows memory only when it is used up.
//!
//! Blocks are rounded up to a power of two (at least 16 bytes, aligned to 16); a freed
//! block goes on its size class's free list and serves the next allocation of that class.
//! Blocks are never split or merged: at most half of a block is slack. A zome call is
//! short-lived (every call starts from a fresh or reset instance), which bounds the cost.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;

const PAGE: usize = 65536;
const MIN_BLOCK: usize = 16;
const CLASSES: usize = 32;

extern "C" {
    /// The end of static data and the shadow stack, placed by the linker.
    static __heap_base: u8;
}

struct State {
    next: usize, // the bump pointer; 0 before the first allocation
    end: usize,  // the end of linear memory, as last seen
    free: [usize; CLASSES],
}

/// The allocator. Wasm without threads runs one call at a time on one stack, so the state
/// needs no lock (the SDK does not support the threads proposal; the host disables it).
pub struct ZomeHeap(UnsafeCell<State>);

// SAFETY: wasm32-unknown-unknown without the atomics feature has a single thread.
unsafe impl Sync for ZomeHeap {}

impl ZomeHeap {
    pub const fn new() -> Self {
        ZomeHeap(UnsafeCell::new(State {
            next: 0,
            end: 0,
            free: [0; CLASSES],
        }))
    }
}

impl Default for ZomeHeap {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of a layout: `log2` of the block size, or None when it cannot exist.
#[inline]
fn class(layout: &Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(MIN_BLOCK);
    let block = size.checked_next_power_of_two()?;
    let c = block.trailing_zeros() as usize;
    if c < CLASSES {
        Some(c)
    } else {
        None
    }
}

impl State {
    unsafe fn bump(&mut self, size: usize, align: usize) -> *mut u8 {
        if self.next == 0 {
            self.next = &__heap_base as *const u8 as usize;
            self.end = wasm32::memory_size(0) * PAGE;
        }
        let align = align.max(MIN_BLOCK);
        let start = match self.next.checked_add(align - 1) {
            Some(v) => v & !(align - 1),
            None => return ptr::null_mut(),
        };
        let stop = match start.checked_add(size) {
            Some(v) => v,
            None => return ptr::null_mut(),
        };
        if stop > self.end {
            // Another call (e.g. the host) cannot grow this memory meanwhile: only the
            // guest grows it, and only here; still re-read its size to be exact.
            self.end = wasm32::memory_size(0) * PAGE;
            if stop > self.end {
                let pages = (stop - self.end + PAGE - 1) / PAGE;
                if wasm32::memory_grow(0, pages) == usize::MAX {
                    return ptr::null_mut();
                }
                self.end = wasm32::memory_size(0) * PAGE;
            }
        }
        self.next = stop;
        start as *mut u8
    }
}

unsafe impl GlobalAlloc for ZomeHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let state = &mut *self.0.get();
        let c = match class(&layout) {
            Some(c) => c,
            None => return ptr::null_mut(),
        };
        let head = state.free[c];
        if head != 0 && layout.align() <= MIN_BLOCK {
            // A free block stores the next free block of its class in its first word.
            state.free[c] = *(head as *const usize);
            return head as *mut u8;
        }
        state.bump(1 << c, layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let state = &mut *self.0.get();
        if let Some(c) = class(&layout) {
            // Every block is aligned to at least MIN_BLOCK: any request of its class that
            // needs no more than that may take it.
            *(ptr as *mut usize) = state.free[c];
            state.free[c] = ptr as usize;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        if class(&layout).is_some() && class(&layout) == class(&new) {
            return ptr; // the block already has room
        }
        let out = self.alloc(new);
        if !out.is_null() {
            ptr::copy_nonoverlapping(ptr, out, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        out
    }
}
