"""The cost breakdown of one call (docs/performance.md), measured piece by piece.

The call is ``bench_echo.echo_1k`` (1 KiB in, one host function ``random_bytes(1024)``,
1 KiB out) on the default (native) boundary. Each piece is timed alone in the same process
(CPU time per call, median of rounds); the layers are differences of nested measurements:

* ``echo_call``: the whole ``Ribosome.run``; ``boundary_echo``: the boundary's ``run``
  alone (so ``Ribosome.run``'s own part is the difference: the input limit, the nesting
  check, the call tree's memory budget);
* ``boundary_noop`` / ``c_noop``: ``noop`` (1 KiB in and out, no host function) through the
  boundary's ``run`` and through the C call alone (``_boundary.invoke``: the guest
  allocator, copy in, the Rust code, copy out, the guest's free, the reset): the difference
  is the boundary's Python around the C call (the thread's pool, the result's decode);
* ``reset``: the reset alone (``Instance.reset``: the image's non-zero pages and the
  resident zero pages written back, the globals);
* the host function round trip is ``boundary_echo - boundary_noop``: the C trampoline, the
  Python body (``host_body``: ``boundary.host_result`` — decode, dispatch, ``random_bytes``,
  encode), the guest allocating the answer; ``urandom``: ``os.urandom(1024)`` alone, the
  host function's own work (in the floor's and Extism's calls too);
* ``fresh_instance`` and ``echo_call_no_reuse``: a fresh instance (reuse off), and the call
  on one;
* what ``Conductor.call_zome`` adds (authorization, init check, workspace, commit check),
  the API's own steps for a call from a client (decode, signature check, app lookup) and
  the client's signing.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from zomehost.bench.harness import quiet_gc
from zomehost.bench.inproc import PAYLOAD, floor_calls, zomehost_calls
from zomehost.chain.source_chain import Workspace
from zomehost.core.capability import Authorization
from zomehost.core.codec import pack
from zomehost.ribosome import nativepath
from zomehost.ribosome.boundary import host_result
from zomehost.ribosome.host_fns import HOST_FNS


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

    bc, ribosome_call, _ = zomehost_calls("native")
    try:
        floors = floor_calls(bc)
        c = bc.conductor
        boundary: Any = c.ribosome.boundary
        if boundary.kind != "native":
            raise RuntimeError(f"the native boundary is unavailable: {nativepath.unavailable()}")
        pieces = _native_pieces(bc)
        app = bc.apps["echo"]
        cell_id = app.cell_id("main")

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

        with quiet_gc():
            t = {
                "echo_call": _cpu_us(ribosome_call, 2000),
                **{name: _cpu_us(fn, 2000) for name, fn in pieces.items()},
                "fresh_instance": _cpu_us(floors["fresh_instance_us"]),
                "echo_call_no_reuse": _cpu_us(floors["inproc_call_no_reuse_us"]),
                "conductor_call": _cpu_us(via_grant),
                "api_decode": _cpu_us(lambda: ZomeCallParams.decode(data)),
                "api_verify_signature": _cpu_us(lambda: verify_call(data, signature)),
                "api_get_app": _cpu_us(lambda: c.get_app("echo")),
                "client_sign": _cpu_us(sign),
            }
        parts = {
            "the whole call (`Ribosome.run`, native boundary)": t["echo_call"],
            "`Ribosome.run` around the boundary (input limit, nesting check, the call "
            "tree's memory budget)": t["echo_call"] - t["boundary_echo"],
            "the boundary's Python around the C call (the thread's pool, the result's decode)": t[
                "boundary_noop"
            ]
            - t["c_noop"],
            "C: a call with no host fn (allocator, 1 KiB in, Rust code, 1 KiB out, free, reset)": t[
                "c_noop"
            ],
            "of which the reset (image pages and resident zero pages back, globals)": t["reset"],
            "one host fn round trip (C trampoline, Python body, the guest allocates the answer)": t[
                "boundary_echo"
            ]
            - t["boundary_noop"],
            "of which the Python body (`host_result`: decode, dispatch, random_bytes, encode)": t[
                "host_body"
            ],
            "of which `os.urandom(1024)` (the host fn's own work)": t["urandom"],
            "fresh instance, reuse off (store, instantiate, export lookups)": t["fresh_instance"],
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


def _native_pieces(bc: Any) -> dict[str, Callable[[], Any]]:
    """The native path's pieces for bench_echo (see the module doc)."""
    c = bc.conductor
    cell = c.cell(bc.apps["echo"].cell_id("main"))
    ws = Workspace(cell.chain, lambda d: c.sign(cell.id.agent, d))
    ctx, zm = c._context(
        cell, "echo", "echo_1k", Authorization(cell.id.agent), ws, time.monotonic() + 1e6, 0
    )
    boundary: Any = c.ribosome.boundary
    limits, deadline = ctx.limits, ctx.deadline
    payload = pack(PAYLOAD)
    count = pack(len(PAYLOAD))

    def dispatch(name: str, value: Any) -> Any:
        return HOST_FNS[name](ctx, value)

    def boundary_run(export: str) -> Callable[[], Any]:
        what = f"echo.{export}"
        return lambda: boundary.run(zm, limits, deadline, dispatch, export, payload, what)

    # an instance of its own, outside the thread's pool, for the C call and its reset alone
    call = boundary.guest_call(zm, limits, deadline, dispatch)
    inst = call._inst
    noop = inst.funcs.get("noop") or inst.func(call.ctx, "noop")
    fuel = boundary.no_fuel
    ext = nativepath._ext

    def c_noop() -> Any:
        return ext.invoke(
            inst.native,
            noop,
            payload,
            deadline,
            fuel,
            limits.max_output_bytes,
            limits.max_host_payload_bytes,
            call,
            nativepath._RESET,
        )

    assert boundary_run("echo_1k")() == PAYLOAD and boundary_run("noop")() == PAYLOAD
    assert c_noop().__class__ is bytes and inst.native.dirty >= 0
    return {
        "boundary_echo": boundary_run("echo_1k"),
        "boundary_noop": boundary_run("noop"),
        "c_noop": c_noop,
        "reset": inst.native.reset,
        "host_body": lambda: host_result(call, "random_bytes", count, frame=True),
        "urandom": lambda: os.urandom(len(PAYLOAD)),
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure(), indent=2, ensure_ascii=False))
