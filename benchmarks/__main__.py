"""Issue 14's benchmarks B1–B6 in one run, each beside its floor or reference measured in
the same run, against the tests' real servers (Dovecot, aiosmtpd, sshd) on loopback.

    .venv/bin/python -m benchmarks [--mails 2000] [--history 20000] [--json benchmarks.json]
                                   [--only B1,B5]

Prints the table (id, what, measured, floor/reference, goal, met?) and writes it as JSON.
B2 is measured on the history B2' leaves (its mails, replies and review copies).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from benchmarks.common import Row, Servers, servers

COLUMNS = ("id", "what", "measured", "floor / reference", "goal", "met?")


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def _met(row: Row) -> str:
    return "—" if row.met is None else ("yes" if row.met else "NO")


def table(rows: list[Row]) -> str:
    cells = [COLUMNS, *((r.id, r.what, r.measured, r.reference, r.goal, _met(r)) for r in rows)]
    lines = ["| " + " | ".join(c) + " |" for c in cells]
    lines.insert(1, "|" + "---|" * len(COLUMNS))
    return "\n".join(lines)


def _plan(args: argparse.Namespace, found: Servers) -> list[tuple[str, Callable[[], Row]]]:
    from benchmarks import backlog, staging, startup, watch

    built: dict[str, Path] = {}

    def b2_intake() -> Row:
        built["history"] = backlog.history(found, args.history)
        return backlog.b2_intake(built["history"], args.history)

    return [
        ("B1", lambda: backlog.b1(found, args.mails)),
        ("B2'", b2_intake),
        ("B2", lambda: backlog.b2_idle(found, built["history"], args.history, args.repeat)),
        ("B3", lambda: watch.b3(found, args.samples)),
        ("B4", lambda: startup.b4(found.tmp / "b4", args.repeat * 2)),
        ("B5", lambda: startup.b5(args.seconds)),
        ("B6", lambda: staging.b6(found)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=2000, help="B1's backlog")
    parser.add_argument("--history", type=int, default=20000,
                        help="B2' backlog, and the history of B2's idle run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per median (B2, B4: twice)")
    parser.add_argument("--samples", type=int, default=20, help="B3's requests")
    parser.add_argument("--seconds", type=float, default=2.0, help="B5's time per parser")
    parser.add_argument("--json", type=Path, default=Path("benchmarks.json"))
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. B4,B5")
    args = parser.parse_args()
    wanted = {i.strip() for i in args.only.split(",") if i.strip()}
    start = time.perf_counter()
    rows: list[Row] = []
    with servers() as found:
        for name, measure in _plan(args, found):
            if wanted and name not in wanted and not (name == "B2'" and "B2" in wanted):
                continue
            rows.append(measure())
            print(f"{rows[-1].id}: {rows[-1].measured}", flush=True)
    elapsed = time.perf_counter() - start
    print(f"\n{table(rows)}\n\nmachine: {_machine()}; {elapsed:.0f} s in all")
    args.json.write_text(json.dumps({"machine": _machine(), "seconds": elapsed,
                                     "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
