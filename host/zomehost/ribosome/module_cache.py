"""The on-disk cache of compiled modules, authenticated before wasmtime sees a byte of it.

``wasmtime.Module.deserialize`` trusts its input: damaged bytes can crash or hang the
process. So every cache file carries a keyed BLAKE2b tag over its name and its contents,
with a per-home secret key kept in a separate file (``<cache dir>.key``, mode 0600). A file
is read whole, its tag checked, and only then deserialized from the same bytes: a truncated
write, disk damage, a file swapped with another or planted by someone without the key is
refused, and the caller compiles the module again from its bundle. Files and the key are
written atomically (temporary file, fsync, rename). The format is in docs/formats.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

log = logging.getLogger("zomehost.ribosome.module_cache")

MAGIC = b"zhcwasm\x01"  # format 1: magic, tag, serialized module
TAG_LEN = 32
KEY_LEN = 32
HEADER_LEN = len(MAGIC) + TAG_LEN
MAX_FILE_BYTES = 1 << 30  # a serialized module of a 32 MiB wasm is far smaller


def key_path(cache_dir: Path) -> Path:
    """Where the cache's secret key lives: beside the directory, not in it."""
    return cache_dir.parent / f"{cache_dir.name}.key"


class ModuleCache:
    """Authenticated cache files in one directory, under one secret key."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._key = _load_or_create_key(key_path(directory))

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.cwasm"

    def _tag(self, name: str, payload: bytes | memoryview) -> bytes:
        mac = hashlib.blake2b(key=self._key, digest_size=TAG_LEN, person=b"zh-module-cache")
        mac.update(name.encode() + b"\x00")  # binds the file to its name: no swapping
        mac.update(payload)
        return mac.digest()

    def read(self, name: str) -> bytes | None:
        """The serialized module stored under ``name``, or None when it is missing or
        fails authentication (then it is removed, to be written again)."""
        path = self.path(name)
        try:  # never block on a FIFO or follow a link planted in the cache's place
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                    self._reject(path, f"not a regular file of at most {MAX_FILE_BYTES} bytes")
                    return None
                data = f.read(st.st_size + 1)  # not MAX_FILE_BYTES: read() allocates n
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._reject(path, f"unreadable: {exc.strerror or exc}")
            return None
        if len(data) < HEADER_LEN or data[: len(MAGIC)] != MAGIC:
            self._reject(path, "not a zomehost module cache file")
            return None
        if not hmac.compare_digest(
            data[len(MAGIC) : HEADER_LEN], self._tag(name, memoryview(data)[HEADER_LEN:])
        ):
            self._reject(path, "its tag does not match (damaged, swapped or foreign)")
            return None
        return data[HEADER_LEN:]

    def write(self, name: str, payload: bytes) -> None:
        _write_atomic(self.path(name), MAGIC + self._tag(name, payload) + payload)

    def _reject(self, path: Path, why: str) -> None:
        log.warning("module cache file %s refused: %s; compiling again", path, why)
        with contextlib.suppress(OSError):  # overwritten by the next write anyway
            path.unlink(missing_ok=True)


def _load_or_create_key(path: Path) -> bytes:
    """The cache key; a missing or malformed one is replaced (the cache is then cold)."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = b""
    if len(key) == KEY_LEN:
        return key
    if key:
        log.warning("module cache key %s is malformed: making a new one", path)
    fresh = secrets.token_bytes(KEY_LEN)
    if not key:  # first use: whoever links first wins, everyone reads the winner
        tmp = _write_temp(path, fresh)
        try:
            os.link(tmp, path)
            return fresh
        except FileExistsError:
            key = path.read_bytes()
            if len(key) == KEY_LEN:
                return key
        finally:
            tmp.unlink(missing_ok=True)
    _write_atomic(path, fresh)
    return fresh


def _write_temp(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


__all__ = ["MAGIC", "ModuleCache", "key_path"]
