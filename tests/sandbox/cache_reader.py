"""The module-cache test's conductor process: for each damage read from stdin (one JSON
object a line), damage the home's cache files, open the conductor, call both zomes, close,
and print what was recompiled. A crash or hang of this process is what the test looks for:
the line it stopped after names the damage.

    python cache_reader.py HOME APP_ID < damages.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from zomehost.conductor.conductor import Conductor, ZomeCall
from zomehost.core.codec import pack
from zomehost.fuzz.testbed import PASSPHRASE


def damage(files: list[Path], spec: dict[str, int | str]) -> None:
    """Apply one damage to the cache files (sorted by name)."""
    op, index, pos = spec["op"], int(spec.get("file", 0)), int(spec.get("pos", 0))
    if op == "none":
        return
    path = files[index % len(files)]
    data = bytearray(path.read_bytes())
    if op == "flip":
        data[pos % len(data)] ^= int(spec.get("mask", 1))
    elif op == "truncate":
        del data[pos:]
    elif op == "garbage":
        data[pos : pos + 64] = bytes((i * 37 + pos) % 256 for i in range(64))
    elif op == "append":
        data += b"\x00" * pos
    elif op == "swap":
        other = files[(index + 1) % len(files)]
        data2 = other.read_bytes()
        other.write_bytes(bytes(data))
        data = bytearray(data2)
    elif op == "forge":  # a file re-tagged by someone without the key: zeros for the tag
        data[8:40] = bytes(32)
    else:
        raise SystemExit(f"unknown damage {op}")
    path.write_bytes(bytes(data))


def main() -> None:
    home, app_id = Path(sys.argv[1]), sys.argv[2]
    cache = home / "cache" / "wasm"
    for i, line in enumerate(sys.stdin):
        damage(sorted(cache.glob("*.cwasm")), json.loads(line))
        compiled: list[str] = []
        conductor = Conductor.open(home, PASSPHRASE, on_compile=compiled.append)
        try:
            cell = conductor.cell_for(app_id, "main").id
            ok = conductor.call_zome(ZomeCall(cell, "writer", "ok", pack(None), cell.agent))
            counter = conductor.call_zome(
                ZomeCall(cell, "hostile", "counter", pack(None), cell.agent)
            )
        finally:
            conductor.close()
        served = {"writer": ok, "hostile": isinstance(counter, list)}
        print(json.dumps({"i": i, "compiled": sorted(compiled), "served": served}), flush=True)


if __name__ == "__main__":
    main()
