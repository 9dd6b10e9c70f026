"""The agent infos a conductor knows, kept in a file of its home across restarts.

A restarted conductor (or one whose bootstrap is down) starts from what it knew: the
records are read back through :meth:`Directory.put_wire`, so they are verified again and
expired ones are dropped. The file is msgpack ``[SignedAgentInfo wire]``, written whole to a
temporary file and renamed (never half written), and bounded in size when read.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from zomehost.core.codec import pack, unpack
from zomehost.core.files import read_bounded
from zomehost.errors import NetworkError, ZomehostError
from zomehost.network.agent_info import MAX_INFO_BYTES, SignedAgentInfo
from zomehost.network.directory import MAX_TOTAL, Directory

log = logging.getLogger("zomehost.network.peer_store")

PEER_STORE_NAME = "peers.msgpack"
MAX_FILE_BYTES = MAX_TOTAL * (MAX_INFO_BYTES + 128)


def save(path: Path, records: list[SignedAgentInfo]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pack([r.to_wire() for r in records[:MAX_TOTAL]]))
    os.replace(tmp, path)


def load(path: Path, directory: Directory, *, skip_transport: bytes | None = None) -> int:
    """Put the file's unexpired, verified records in ``directory``; how many were kept.

    Records of ``skip_transport`` (this conductor's own, re-signed at start) are left out. A
    missing, oversized or damaged file is logged and read as empty: it is only a cache.
    """
    if not path.exists():
        return 0
    try:
        data = read_bounded(path, MAX_FILE_BYTES, NetworkError, "peer store")
        doc = unpack(data, max_len=MAX_FILE_BYTES, what="peer store")
    except ZomehostError as exc:
        log.warning("peer store not read: %s", exc.message)
        return 0
    if not isinstance(doc, list):
        log.warning("peer store %s is not a list: ignored", path)
        return 0
    kept = directory.put_many_wire(doc[:MAX_TOTAL])
    for record in kept:
        if record.info.transport_id == skip_transport:
            directory.remove(record.info.dna_hash, record.info.agent)
    return sum(1 for r in kept if r.info.transport_id != skip_transport)


__all__ = ["PEER_STORE_NAME", "load", "save"]
