//! Guest memory: the allocator exports of the ABI and the helpers that pass blocks between
//! the guest and the host.
//!
//! Blocks are plain byte allocations with layout `(len, align 1)`: a `Vec<u8>` whose
//! capacity equals its length owns exactly such a block, so blocks move in and out of
//! `Vec`s without copying.

use std::alloc::{alloc, dealloc, Layout};

/// `__zh_alloc(len) -> ptr`: allocate `len` bytes (never 0 for `len > 0`). For `len == 0`
/// a non-null dangling pointer (1) is returned, and freeing it does nothing.
#[no_mangle]
pub extern "C" fn __zh_alloc(len: i32) -> i32 {
    let len = len as u32 as usize;
    if len == 0 {
        return 1;
    }
    // SAFETY: the size is non-zero; align 1 is always valid.
    let ptr = unsafe { alloc(Layout::from_size_align_unchecked(len, 1)) };
    if ptr.is_null() {
        // Out of memory: trap rather than hand the host a null pointer.
        std::process::abort();
    }
    ptr as i32
}

/// `__zh_free(ptr, len)`: free a block obtained from `__zh_alloc(len)`.
#[no_mangle]
pub extern "C" fn __zh_free(ptr: i32, len: i32) {
    let len = len as u32 as usize;
    if len == 0 || ptr == 0 {
        return;
    }
    // SAFETY: the ABI requires (ptr, len) to come from `__zh_alloc(len)`.
    unsafe { dealloc(ptr as u32 as usize as *mut u8, Layout::from_size_align_unchecked(len, 1)) }
}

/// Split a packed `(ptr << 32) | len` return value.
#[inline]
pub fn split(packed: i64) -> (i32, i32) {
    let packed = packed as u64;
    ((packed >> 32) as u32 as i32, packed as u32 as i32)
}

/// Pack `(ptr, len)` as `(ptr << 32) | len` (unsigned, as `i64`).
#[inline]
pub fn pack(ptr: i32, len: i32) -> i64 {
    (((ptr as u32 as u64) << 32) | (len as u32 as u64)) as i64
}

/// Take ownership of a block allocated through `__zh_alloc(len)`.
///
/// # Safety
/// `(ptr, len)` must be a live block from `__zh_alloc(len)` that nobody else frees.
pub unsafe fn take(ptr: i32, len: i32) -> Vec<u8> {
    let len = len as u32 as usize;
    if len == 0 {
        return Vec::new();
    }
    Vec::from_raw_parts(ptr as u32 as usize as *mut u8, len, len)
}

/// Give a buffer away as a block the host frees with `__zh_free(ptr, len)`; returns the
/// packed `(ptr << 32) | len`.
pub fn give(bytes: Vec<u8>) -> i64 {
    let len = bytes.len();
    if len == 0 {
        return pack(1, 0);
    }
    // Exact capacity, so that the block's layout is (len, 1).
    let boxed = bytes.into_boxed_slice();
    let ptr = Box::into_raw(boxed) as *mut u8;
    pack(ptr as usize as i32, len as i32)
}
