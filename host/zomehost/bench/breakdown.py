"""The cost breakdown of one call (docs/performance.md), measured piece by piece.

Each piece is timed alone in the same process (CPU time per call, median of rounds), and
the layers are differences of nested measurements:

* ``c_call``: one call to a wasmtime C function through ctypes (``wasmtime_memory_data_size``);
* ``fresh_instance``: a store slot, ``InstancePre`` instantiation, export lookups (what a
  call costs first when instance reuse is off or impossible);
* ``instance_reset``: putting a used instance back to its fresh state (ribosome/reset.py);
* ``noop_call``: ``noop`` on a reused instance (take it, alloc + copy 1 KiB in, the Rust
  code, read 1 KiB out, free, reset);
* ``host_fn_round_trip``: what ``echo_1k`` adds: the callback, reading and decoding its
  input, ``random_bytes`` itself, encoding the envelope, the guest allocator, the copy;
* ``ribosome_envelope``: what ``Ribosome.run`` adds around the boundary;
* ``conductor_layers``: what ``Conductor.call_zome`` adds (authorization, init check,
  workspace, commit check, signals);
* the API's own steps for a call from a client (decode, signature check, app lookup) and
  the client's signing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from zomehost.bench.harness import quiet_gc
from zomehost.bench.inproc import PAYLOAD, floor_calls, zomehost_calls
from zomehost.core.codec import pack


def _cpu_us(fn: Callable[[], Any], n: int = 300, rounds: int = 9) -> float:
    for _ in range(30):
        fn()
    out = []
    for _ in range(rounds):
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        out.append((time.thread_time() - t0) / n * 1e6)
    return statistics.median(out)


def measure() -> dict[str, Any]:
    from zomehost.client import SigningCredentials
    from zomehost.core.capability import (
        AccessKind,
        CapAccess,
        GrantedFunctions,
        ZomeCallCapGrant,
    )
    from zomehost.core.zome_call import ZomeCall, ZomeCallParams, new_nonce, sign_call, verify_call

    bc, ribosome_call, _ = zomehost_calls("fast")
    try:
        floors = floor_calls(bc)
        c = bc.conductor
        app = bc.apps["echo"]
        cell_id = app.cell_id("main")
        boundary: Any = c.ribosome.boundary
        probe = boundary.guest_call(*_instance_args(bc))
        c_lib, ctx, mem = probe.c, probe.ctx, probe._inst.memory

        def c_call() -> Any:
            return c_lib.memory_data_size(ctx, mem)

        creds = SigningCredentials.generate()
        grant = ZomeCallCapGrant(
            "bench",
            CapAccess(AccessKind.ASSIGNED, creds.cap_secret, frozenset({creds.provenance})),
            GrantedFunctions(None),
        )
        c.grant_capability(cell_id, grant)

        def sign() -> tuple[bytes, bytes]:
            params = ZomeCallParams(
                creds.provenance,
                cell_id,
                "echo",
                "echo_1k",
                creds.cap_secret,
                pack(PAYLOAD),
                new_nonce(),
                time.time_ns() // 1000 + 60_000_000,
            )
            return sign_call(params, creds.key)

        data, signature = sign()
        params = ZomeCallParams.decode(data)
        zcall = ZomeCall.from_params(params)

        def via_grant() -> Any:
            return c.call_zome(zcall)

        ribosome_call()  # leaves its instance, reset, in this thread's store
        store = boundary._stores.by_depth[0]
        idle = next(iter(store.idle.values()))

        def instance_reset() -> Any:
            return idle.reset(store.ctx, idle.size)

        with quiet_gc():
            t = {
                "c_call": _cpu_us(c_call, 2000),
                "fresh_instance": _cpu_us(floors["fresh_instance_us"]),
                "instance_reset": _cpu_us(instance_reset, 1000),
                "noop_call": _cpu_us(floors["noop_call_us"]),
                "echo_call": _cpu_us(ribosome_call),
                "echo_call_no_reuse": _cpu_us(floors["inproc_call_no_reuse_us"]),
                "conductor_call": _cpu_us(via_grant),
                "api_decode": _cpu_us(lambda: ZomeCallParams.decode(data)),
                "api_verify_signature": _cpu_us(lambda: verify_call(data, signature)),
                "api_get_app": _cpu_us(lambda: c.get_app("echo")),
                "client_sign": _cpu_us(sign),
            }
        parts = {
            "one C call through ctypes": t["c_call"],
            "fresh instance, reuse off (store slot, instantiate, 3 export lookups)": t[
                "fresh_instance"
            ],
            f"reset of a reused instance (copy its {idle.size // 1024} KiB memory image "
            "back, restore its globals)": t["instance_reset"],
            "call without a host fn, instance reused (alloc, 1 KiB in, Rust code, 1 KiB "
            "out, free, reset)": t["noop_call"],
            "one host fn round trip (callback, decode, random_bytes, encode, alloc, copy)": (
                t["echo_call"] - t["noop_call"]
            ),
            "the echo call with instance reuse off (a fresh instance per call)": t[
                "echo_call_no_reuse"
            ],
            "conductor layers (authorize by grant, init check, workspace, commit check)": (
                t["conductor_call"] - t["echo_call"]
            ),
            "API: decode the signed call": t["api_decode"],
            "API: verify the Ed25519 signature": t["api_verify_signature"],
            "API: look up the app": t["api_get_app"],
            "client: build and sign the call": t["client_sign"],
        }
        return {
            "call_breakdown_cpu_us": {
                "value": None,
                "unit": "µs CPU",
                "parts": {k: round(v, 1) for k, v in parts.items()},
                "totals": {k: round(v, 1) for k, v in t.items()},
            }
        }
    finally:
        bc.close()


def _instance_args(bc: Any) -> tuple[Any, ...]:
    from zomehost.core.limits import Limits

    c = bc.conductor
    cell = c.cell(bc.apps["echo"].cell_id("main"))
    _, zm = cell.zome("echo")
    return zm, Limits(), time.monotonic() + 1e6, lambda name, value: None


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure(), indent=2, ensure_ascii=False))
