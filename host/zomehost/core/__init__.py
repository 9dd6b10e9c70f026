"""The pure core: hashes, records, capability rules, manifests. No I/O, no wasmtime, no asyncio.

Everything here is a function of its arguments (clocks and randomness are passed in), so
it is unit tested in microseconds and shared by every layer above.
"""
