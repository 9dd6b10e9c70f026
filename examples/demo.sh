#!/usr/bin/env bash
# The README's demo (`just demo`): the notes app by hand with the CLI, then the two seeds'
# scenarios across separate conductor processes:
#   1. notes: init a home, pack and install the app, create and list notes, print and verify
#      the source chain;
#   2. the ghost writer (calls and capabilities): examples/ghostwriter/run.py;
#   3. the messenger (node-to-node messaging): examples/messenger/run.py.
# Needs the zomes built (`just zomes`; `just demo` does it). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ZOMEHOST_PASSPHRASE="${ZOMEHOST_PASSPHRASE:-demo passphrase}"
unset ZOMEHOST_HOME
[ -t 2 ] || export COLUMNS="${COLUMNS:-200}"  # the CLI's messages: no wrapping in logs

work=$(mktemp -d -t zomehost-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
H="$work/home"

if [ -t 1 ]; then bold=$'\033[1m' dim=$'\033[2m' off=$'\033[0m'; else bold='' dim='' off=''; fi
section() { printf '\n%s######## %s%s\n' "$bold" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }

section "1. notes: one agent, one chain, by hand with the zomehost CLI"
show zomehost --home "$H" init
show zomehost --home "$H" app pack examples/notes -o "$work/notes.happ" >/dev/null
show zomehost --home "$H" app install "$work/notes.happ" --app-id notes >/dev/null
show zomehost --home "$H" call notes notes notes create_note '{"title":"Octopus facts","body":"Three hearts, blue blood."}'
show zomehost --home "$H" call notes notes notes create_note '{"title":"To read","body":"Other Minds, by Peter Godfrey-Smith"}'
show zomehost --home "$H" call notes notes notes list_notes
show zomehost --home "$H" chain notes notes
show zomehost --home "$H" chain verify notes notes

section "2. the ghost writer: calls and capabilities across two conductors"
show python examples/ghostwriter/run.py

section "3. the messenger: node-to-node messages across two conductors"
show python examples/messenger/run.py

printf '\n%sDemo complete.%s\n' "$bold" "$off"
