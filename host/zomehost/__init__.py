"""zomehost: a WebAssembly-sandboxed zome host.

The package is layered (see docs/architecture.md): ``core`` is pure (no I/O), ``chain``,
``ribosome`` and ``network`` sit on it, ``conductor`` ties them together, and ``api`` and
``cli`` are thin shells around the conductor.
"""

__version__ = "0.1.0"
