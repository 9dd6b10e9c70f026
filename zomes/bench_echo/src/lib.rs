//! The benchmark zome: the smallest honest "echo through one host function".
//!
//! `echo_1k(data)` takes bytes (1 KiB in the benchmark), asks the host for as many bytes
//! through ONE host function call (`random_bytes(len)`: the request is a 3-byte msgpack
//! int, the answer a `len`-byte `bin` in a result envelope the host allocates in guest
//! memory), checks the answer's length, and returns its input. Per call, the payload bytes
//! cross the boundary three times: the input host -> guest, the host function's result
//! host -> guest, the output guest -> host. The Extism and public-API comparisons in
//! `zomehost.bench` do exactly the same work (no echo host function exists in zomehost).

use zomehost_sdk::prelude::*;

fn echo_1k(data: Bytes) -> ExternResult<Bytes> {
    let fresh = random_bytes(data.0.len() as u32)?;
    if fresh.0.len() != data.0.len() {
        return Err(WasmError::guest("random_bytes returned the wrong length"));
    }
    Ok(data)
}

/// No host function at all: the floor of one zome call (input in, output out).
fn noop(data: Bytes) -> ExternResult<Bytes> {
    Ok(data)
}

/// Create one entry (the input bytes, entry type `bench`) and nothing else: the write
/// benchmark's call. No `post_commit` callback, so a call runs exactly one instance.
fn create_one(data: Bytes) -> ExternResult<ActionHash> {
    create("bench", &data)
}

/// `create_one` with relaxed chain top ordering: concurrent calls on one cell are rebased
/// at commit instead of failing (the concurrent-writers benchmark's call).
fn create_one_relaxed(data: Bytes) -> ExternResult<ActionHash> {
    create_with_ordering("bench", &data, ChainTopOrdering::Relaxed)
}

zome_fns!(echo_1k, noop, create_one, create_one_relaxed);
