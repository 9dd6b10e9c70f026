"""The payload-size and app-count curves as one image (bench/curves.png), with matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Any

IMAGE = "curves.png"


def curves(results: dict[str, Any], out_dir: Path) -> str | None:
    """Draw the curves the run measured; the image's name, or why there is none."""
    payload = (results.get("payload_curve") or {}).get("sizes")
    apps = (results.get("apps_curve") or {}).get("per_call_us")
    others = {
        "Conductor.call_zome": "conductor_per_call_us",
        "Ribosome.run, every app on one module": "shared_module_per_call_us",
        "C-level floor": "floor_per_call_us",
        "ctypes boundary (before)": "ctypes_per_call_us",
    }
    extra = {
        label: (results.get("apps_curve") or {}).get(key) or {} for label, key in others.items()
    }
    if not payload and not apps:
        return "not drawn: neither curve was measured"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"not drawn: matplotlib is not installed ({exc}); `pip install -e '.[bench]'`"
    panels = [c for c in (payload, apps) if c]  # a run of one section draws one panel
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    panel = iter(axes[0])
    if payload:
        left = next(panel)
        sizes = sorted(payload, key=int)
        x = [int(s) / 1024 for s in sizes]
        for way, label in (
            ("zomehost_us", "zomehost (native boundary)"),
            ("ctypes_us", "zomehost, ctypes boundary (before)"),
            ("floor_us", "C-level floor"),
            ("extism_us", "Extism"),
        ):
            y = [payload[s].get(way) for s in sizes]
            if all(v is not None for v in y):
                left.plot(x, y, marker="o", label=label)
        left.set_xscale("log", base=2)
        left.set_yscale("log")
        left.set_xlabel("payload (KiB; echo through a host fn up to 64, noop above)")
        left.set_ylabel("µs per call (CPU, median)")
        left.set_title("payload size")
        left.grid(True, which="both", alpha=0.3)
        left.legend()
    if apps:
        right = next(panel)
        counts = sorted(apps, key=int)
        x = [int(n) for n in counts]
        right.plot(x, [apps[n] for n in counts], marker="o", label="Ribosome.run (native)")
        for label, curve in extra.items():
            if curve:
                right.plot(x, [curve[n] for n in counts], marker="o", label=label)
        right.legend()
        right.set_xlabel("apps called round-robin on one thread")
        right.set_ylabel("µs per call (CPU, median)")
        right.set_ylim(bottom=0)
        right.set_title("app count (1 KiB echo, each app its own module)")
        right.grid(True, alpha=0.3)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / IMAGE, dpi=110)
    plt.close(fig)
    return IMAGE
