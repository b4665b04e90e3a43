"""`python -m benchmarks.peak FILE MODULE ARGS...`: run MODULE as `python -m` would, then
write the process's own peak RSS (kB) to FILE.

A child's `ru_maxrss` counts the pages it shared with its parent before `exec` (a
benchmark holding 20,000 mails would look like a 90 MB bot); VmHWM, read in the new
image, is the bot's own.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def _write_peak(out: Path) -> None:
    status = Path("/proc/self/status").read_text()
    peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    out.write_text(peak + "\n")


if __name__ == "__main__":
    target, module, *rest = sys.argv[1:]
    atexit.register(_write_peak, Path(target))
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
