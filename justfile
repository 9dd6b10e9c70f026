# zomehost tasks. Fresh machine: `bash scripts/bootstrap <recipe>` installs everything first.
set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var('PATH')

# List the recipes
default:
    @just --list

# Everything a fresh machine needs (Debian packages, venv, npm, zomes)
setup:
    bash scripts/bootstrap

# Build every zome from source (Rust and AssemblyScript)
zomes:
    bash scripts/build-rust-zomes
    if [ -x scripts/build-as-zomes ]; then bash scripts/build-as-zomes; fi

# Build the web UIs offline from npm packages (esbuild): the launcher shim and the examples' UIs
ui: zomes
    bash scripts/build-ui

# The demo: the seeds' scenarios, step by step
demo: zomes
    bash examples/demo.sh

# The ghost-writer story (calls and capabilities) across two conductor processes
ghostwriter: zomes
    python examples/ghostwriter/run.py

# Private messages, pings and nudges across two conductor processes
messenger: zomes
    python examples/messenger/run.py

# The ghost-writer story in two browser pages: Alice's and Bob's conductors serve the UI
ghostwriter-ui: ui
    python examples/serve.py ghostwriter

# The messenger in two browser pages, one per conductor
messenger-ui: ui
    python examples/serve.py messenger

# Build the native wasm boundary (C, ribosome/native/); on failure zomehost says so and
# runs on the ctypes boundary
native:
    -python -m zomehost.ribosome.native.build

# Lint, type-check, then the test suite (CI runs this)
test *ARGS: native ui lint
    python -m pytest -q -p no:cacheprovider --durations=10 {{ARGS}}

# Conductors on simulated hosts (network namespaces, needs root): HOSTS x CONDUCTORS (up to 12x2),
# half the hosts behind NAT; prints discovery, all-pairs success and latency, recovery times
swarm HOSTS="6" CONDUCTORS="2": zomes
    SWARM_HOSTS={{HOSTS}} SWARM_CONDUCTORS={{CONDUCTORS}} python -m pytest -q -s -p no:cacheprovider tests/swarm/test_swarm.py

# Lint and type-check
lint:
    @echo "==> ruff and mypy"
    ruff check host tests
    ruff format --check host
    mypy

# Benchmarks: writes bench/results.json and bench/results.md
bench *ARGS: native zomes
    python -m pip install -q --disable-pip-version-check -e '.[bench]'
    python -m zomehost.bench {{ARGS}}
