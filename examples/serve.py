#!/usr/bin/env python3
"""An example's UI in the browser: Alice's and Bob's conductors, each serving it.

Starts a bootstrap service and two `zomehost run` processes (fresh homes, loopback), installs
the example's `.webhapp` (packed from its web-happ.yaml) on both, and prints the two URLs to
open, one page per agent. Stop with Ctrl-C. Build the zomes and the UI first:
`just ghostwriter-ui` and `just messenger-ui` do both.

    python examples/serve.py {ghostwriter,messenger} [--keep | --dir DIR]
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from driver import arguments, sandbox  # noqa: E402

from zomehost.conductor.packing import pack_web_app_dir  # noqa: E402

EXAMPLES = sorted(d.name for d in HERE.iterdir() if (d / "web-happ.yaml").is_file())
AGENTS = ["alice", "bob"]


def main() -> int:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("example", choices=EXAMPLES, help="the example app whose UI to serve")
    args = parser.parse_args()
    with sandbox(args) as sb:
        bundle = pack_web_app_dir(HERE / args.example, sb.dir / f"{args.example}.webhapp")
        peers = sb.scenario.add_peers(AGENTS)
        for peer in peers:
            peer.install_app(bundle, app_id=args.example, network_seed=f"{args.example}-ui")
        for peer in peers:
            print(f"{peer.name.capitalize()}'s page: {peer.process.ui_url(args.example)}")
        print("Open each page in a browser; Ctrl-C stops the conductors.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
