"""The ribosome: runs zome functions under wasmtime with the zome ABI (docs/abi.md).

``engine`` owns wasmtime's Engine, the epoch ticker, install checks and the compiled-module
cache; ``boundary`` is the one module that crosses into and out of the guest; ``host_fns``
implements the host functions on top of a call context the conductor provides.
"""
