"""The running conductor process: the event loop, the worker pool and the services' wiring.

zomehost is layered; each layer imports only the layers below it (the contract is checked
by ``tests/test_architecture.py`` and drawn in docs/architecture.md):

* ``core`` — pure rules and types: hashes, records, capability rule, manifests, signed
  call parameters, the call response, the one msgpack codec, the conductor API's wire
  format. No I/O, no wasmtime, no asyncio.
* ``chain`` (LMDB source chains), ``ribosome`` (wasmtime and the zome ABI), ``network``
  (Noise sessions, framing, transport, peer directory, bootstrap) — each on ``core`` only,
  and none on another.
* ``conductor`` — apps, cells and the call pipeline, on the three above.
* ``api`` (the admin and app WebSocket interfaces) and ``p2p`` (remote calls and signals
  between conductors) — services on the conductor; each declares the small runtime
  interface it needs.
* ``runtime`` (this package) — the composition root: only it knows asyncio *and* the
  conductor, and hands itself to the services as their runtime.
* ``cli`` — the ``zomehost`` command. ``client`` (the Python client) stands beside the
  server layers and uses ``core`` only.
"""
