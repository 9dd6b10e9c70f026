"""The crash test's in-process writer: opens the conductor on a home and commits entries on
every given cell as fast as it can (one thread per cell), printing each action hash only
after ``call_zome`` returned, i.e. after its commit was synced. Killed with SIGKILL.

    python crash_writer.py HOME RUN APP [APP...]
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading
from pathlib import Path

from zomehost.conductor.conductor import Conductor
from zomehost.core.codec import pack
from zomehost.core.zome_call import ZomeCall
from zomehost.fuzz.testbed import PASSPHRASE

_print_lock = threading.Lock()


def main() -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks when stuck
    home, run, apps = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    conductor = Conductor.open(home, PASSPHRASE)

    def write(app_id: str) -> None:
        cell = conductor.cell_for(app_id, "main")
        i = 0
        while True:
            value = {"run": run, "i": i, "pad": "x" * (i % 200)}
            call = ZomeCall(cell.id, "writer", "create_entry", pack(value), cell.id.agent)
            h = conductor.call_zome(call)
            with _print_lock:  # acknowledged: the commit is on disk
                sys.stdout.write(f"{app_id} {bytes(h).hex()}\n")
                sys.stdout.flush()
            i += 1

    sys.stdout.write("ready\n")  # the conductor is open
    sys.stdout.flush()
    threads = [threading.Thread(target=write, args=(a,), daemon=True) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
