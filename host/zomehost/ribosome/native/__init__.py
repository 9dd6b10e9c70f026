"""The native wasm boundary's compiled part (``_boundary.c``), and whether it can load.

:func:`load` imports the extension built by :mod:`.build` when it is there and matches its
source; otherwise it says why not, and :mod:`zomehost.ribosome.nativepath` is not used.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

_lock = threading.Lock()
_module: ModuleType | None = None
_why: str | None = None


def load() -> tuple[ModuleType | None, str | None]:
    """(the extension, None), or (None, why it cannot be used)."""
    global _module, _why
    with _lock:
        if _module is None and _why is None:
            from zomehost.ribosome.native import build

            if not build.up_to_date():
                _why = (
                    "its extension is not built or is stale "
                    "(`python -m zomehost.ribosome.native.build`)"
                )
            else:
                try:
                    _module = importlib.import_module("zomehost.ribosome.native._boundary")
                except ImportError as exc:
                    _why = f"its extension does not load: {exc}"
        return _module, _why
