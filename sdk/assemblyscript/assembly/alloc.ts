// The allocator exports of docs/abi.md: `__zh_alloc(len) -> ptr` and `__zh_free(ptr, len)`.
//
// Why heap.alloc / heap.free and not __new + __pin:
// With the incremental (or minimal) runtime, AssemblyScript's memory has two layers:
// TLSF, a plain malloc/free allocator (heap.alloc / heap.realloc / heap.free, i.e.
// __alloc / __realloc / __free), and the garbage collector (ITCMS) on top of it, which
// only tracks *managed objects* created with __new (they carry an object header and are
// linked into the GC's lists). A block from heap.alloc has no object header and is in
// none of the GC's lists: the collector never sees it, so it can never free or move it,
// and nothing needs pinning. __new(len, idof<ArrayBuffer>()) + __pin would also work,
// but costs a 20-byte object header, a zero-fill, and two list operations per block,
// and the host would have to call __unpin rather than a plain free. The blocks the host
// asks for are raw bytes with a lifetime the ABI fixes (input block: freed by the guest
// after the call; result block: freed by whoever receives it), which is exactly
// malloc/free.
//
// These blocks must never be treated as managed objects (no changetype<ArrayBuffer>).
// The stub runtime never frees memory: do not use it for zomes (see README).

/** Allocates `len` bytes for the host (never returns 0: TLSF traps when out of memory). */
export function __zh_alloc(len: usize): usize {
  return heap.alloc(len);
}

/** Frees a block from __zh_alloc (the length is not needed by TLSF). */
export function __zh_free(ptr: usize, len: usize): void {
  heap.free(ptr);
}
