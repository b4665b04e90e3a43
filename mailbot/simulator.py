"""A stand-in for stagecalms.sh: same arguments, same terminal output, a real download directory.

    python -m mailbot.simulator [--root DIR] [--duration SECONDS] [--url-base URL]
                                PROJCODE MOUSUID TICKET [X CALFIELD]

It lets the whole job run with no staging host (the embedded setup) and lets
tests drive every outcome stagecalms has, through files under ROOT:

- `ROOT/duration`: seconds a staging takes when --duration is not given;
- `ROOT/fail`: MOUS UIDs (either form) or helpdesk tickets, one per line,
  whose staging fails with stagecalms' "Failed. Please investigate" block;
- `ROOT/preview/<32 hex>/`: the download directories, one small tar per EB;
- `ROOT/staged/<mous>`: the last successful staging of a MOUS, which a later
  staging of the same MOUS reuses by hard-linking (as stagecalms does);
- `ROOT/runs.log`: one line per start and end (ISO time, event, MOUS, ticket,
  pid), so that tests can see how many stagings ran and which overlapped.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import sys
import tarfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mailbot.config import default_data_dir
from mailbot.model import mous_file_form

DEFAULT_URL_BASE = "http://almascience.eso.org/arcdistribution/preview"
# Paths stagecalms prints; they name directories on the real hosts, not here.
FAILED_DIR_BASE = "/var/www/html/arcdistribution/preview"
WORK_DIR_BASE = "/opsw/work/pipeproc/autopipeline/tmp"

_PROJECT = re.compile(r"\d{4}\.[0-9A-Z]\.\d{5}\.[A-Z]{1,3}")
_TICKET = re.compile(r"\d{1,10}")
_FIELD = r"[A-Za-z0-9+._-]+"
_CALFIELD = re.compile(rf"{_FIELD}(?:,{_FIELD})*")
_OLD_CYCLES = ("2012.", "2013.")  # projects whose CASA needs the RHEL5 machine


@dataclass(frozen=True)
class Staging:
    """One simulated stagecalms invocation."""

    root: Path
    project: str
    mous: str  # URI form
    ticket: str
    calfield: str | None
    url_base: str
    duration: float

    @property
    def mous_file(self) -> str:
        return mous_file_form(self.mous)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mailbot.simulator",
        usage="%(prog)s [--root DIR] [--duration SECONDS] [--url-base URL] "
        "PROJCODE MOUSUID TICKET [X CALFIELD]",
        description="Simulate stagecalms.sh: print its output and create a download directory.",
    )
    parser.add_argument("--root", default=str(Path(default_data_dir()) / "staging"))
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--url-base", default=DEFAULT_URL_BASE)
    parser.add_argument("project", metavar="PROJCODE")
    parser.add_argument("mous", metavar="MOUSUID")
    parser.add_argument("ticket", metavar="TICKET")
    parser.add_argument("rest", nargs="*", metavar="X CALFIELD")
    return parser


def parse_args(argv: Sequence[str]) -> Staging:
    """Check the arguments as stagecalms.sh would; exit 2 with usage on bad ones."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not _PROJECT.fullmatch(args.project):
        parser.error(f"not a project code: {args.project!r}")
    try:
        mous_file_form(args.mous)
    except ValueError:
        parser.error(f"not a MOUS UID in the form uid://A001/X1296/X675: {args.mous!r}")
    if not _TICKET.fullmatch(args.ticket):
        parser.error(f"not a helpdesk ticket number: {args.ticket!r}")
    calfield: str | None = None
    if args.rest:
        if len(args.rest) != 2 or args.rest[0] != "X":
            parser.error("after TICKET only `X CALFIELD` may follow")
        calfield = args.rest[1]
        if not _CALFIELD.fullmatch(calfield):
            parser.error(f"not a comma-separated list of field names: {calfield!r}")
    if args.duration is not None and args.duration < 0:
        parser.error("--duration must not be negative")
    root = Path(args.root)
    return Staging(
        root=root,
        project=args.project,
        mous=args.mous,
        ticket=args.ticket,
        calfield=calfield,
        url_base=args.url_base.rstrip("/"),
        duration=args.duration if args.duration is not None else _duration_file(root),
    )


def _duration_file(root: Path) -> float:
    try:
        return max(0.0, float((root / "duration").read_text().strip()))
    except (OSError, ValueError):
        return 0.0


def execution_blocks(mous: str) -> list[str]:
    """One to three EB UIDs, always the same for the same MOUS."""
    digest = hashlib.sha256(mous.encode()).digest()
    count = 1 + digest[0] % 3
    ebs = []
    for i in range(count):
        chunk = digest[1 + 5 * i : 6 + 5 * i]
        middle = int.from_bytes(chunk[:3], "big") | 0x100000
        last = int.from_bytes(chunk[3:], "big") | 0x100
        ebs.append(f"uid___A002_X{middle:x}_X{last:x}")
    return ebs


def _deletion_date(now: float) -> str:
    """`date` in UTC: `Fri Sep 27 14:04:04 UTC 2019` (the day space-padded, as date does)."""
    stamp = time.gmtime(now)
    return (
        time.strftime("%a %b ", stamp)
        + f"{stamp.tm_mday:2d}"
        + time.strftime(" %H:%M:%S UTC %Y", stamp)
    )


def _record(root: Path, event: str, staging: Staging, detail: str) -> None:
    line = " ".join(
        word
        for word in (
            datetime.now(UTC).isoformat(timespec="microseconds"),
            event,
            staging.mous,
            staging.ticket,
            str(os.getpid()),
            detail,
        )
        if word
    )
    # One short O_APPEND write per event: lines of concurrent runs do not interleave.
    with (root / "runs.log").open("a", encoding="utf-8") as log:
        log.write(line + "\n")


def _failing(root: Path, staging: Staging) -> bool:
    try:
        entries = {line.strip() for line in (root / "fail").read_text().splitlines()}
    except OSError:
        return False
    return bool(entries & {staging.mous, staging.mous_file, staging.ticket})


def _previous(root: Path, staging: Staging, ebs: list[str]) -> list[Path] | None:
    """The tar files of the last successful staging of this MOUS, if all still exist."""
    try:
        previous = (root / "staged" / staging.mous_file).read_text().strip()
    except OSError:
        return None
    tars = [root / "preview" / previous / f"{eb}.ms.split.cal.tar" for eb in ebs]
    return tars if previous and all(tar.is_file() for tar in tars) else None


def _write_tar(path: Path, staging: Staging, eb: str) -> None:
    content = f"calibrated MS of {eb} for {staging.project} {staging.mous}\n".encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(f"{eb}.ms.split.cal/README")
        info.size = len(content)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(content))


def run(staging: Staging) -> int:
    """Simulate one staging; return the exit status stagecalms would give."""
    root = staging.root
    for sub in ("preview", "staged"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _record(root, "start", staging, "")
    hex_id = uuid.uuid4().hex
    download = root / "preview" / hex_id
    download.mkdir()
    fail = _failing(root, staging)
    lines = _output(staging, hex_id, download, fail)
    pause = staging.duration / len(lines)
    for line in lines:
        if pause:
            time.sleep(pause)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    if fail:
        _record(root, "end", staging, "status=1")
        return 1
    _remember(root, staging, hex_id)
    _record(root, "end", staging, "status=0")
    return 0


def _output(staging: Staging, hex_id: str, download: Path, fail: bool) -> list[str]:
    """stagecalms' terminal lines for this staging (filling the download directory)."""
    url = f"{staging.url_base}/{hex_id}"
    ebs = execution_blocks(staging.mous)
    reuse_from = None if fail else _previous(staging.root, staging, ebs)
    workdir = f"{WORK_DIR_BASE}/WORK{10000 + os.getpid() % 90000}"
    lines = _opening(staging, url, 1 + int(hex_id, 16) % 16, workdir)
    if reuse_from:
        lines += _reuse(ebs, reuse_from, download)
    else:
        lines += _regenerate(ebs)
        if fail:
            return [*lines, *_failure(staging, hex_id, workdir)]
        lines.append("Completed. Determining the list of generated MSs ...")
        lines += _copy(staging, ebs, download)
    return [*lines, *_closing(staging, url)]


def _opening(staging: Staging, url: str, node: int, workdir: str) -> list[str]:
    """The lines up to the search for MSs staged before."""
    lines: list[str] = []
    if staging.calfield:
        lines.append(
            f"*** Based on your selection, only data for field {staging.calfield} "
            "will be staged. ***"
        )
    lines.append(f"The staging directory will be accessible at {url}")
    if staging.project.startswith(_OLD_CYCLES):
        lines.append("Old project, using RHEL5 build of CASA.")
    return [
        *lines,
        "Looking for cluster node with low load ...",
        f"DATAMACHINE chosen: arcp{node}",
        f"Working as arcproc@arcp{node}.hq.eso.org ...",
        f"(re-)creating directory {workdir}",
        "Now generating the calibrated MS(s) ...",
        "Checking for pre-existing MSs for the following EBs ...",
    ]


def _reuse(ebs: list[str], tars: list[Path], download: Path) -> list[str]:
    """Hard-link the MSs of the last staging into `download`, as stagecalms does."""
    lines: list[str] = []
    for eb, tar in zip(ebs, tars, strict=True):
        os.link(tar, download / tar.name)
        lines += [
            eb,
            f"Found pre-existing {tar} .",
            "   Will try to use this instead of recreating it (making hard link) ...",
        ]
    return lines


def _regenerate(ebs: list[str]) -> list[str]:
    """No MS to reuse: the lines up to the cluster job's end."""
    lines: list[str] = []
    for eb in ebs:
        lines += [
            eb,
            f"MS for {eb} was not found among the already staged MSs. "
            "Will not search further ...",
        ]
    return [
        *lines,
        "None or not all of the needed MSs found: Will regenerate all the MSs ...",
        "Generated the job script. Now submitting and waiting for completion ...",
    ]


def _closing(staging: Staging, url: str) -> list[str]:
    """The completion lines, with the URL and the deletion date."""
    return [
        "Deleting redundant logs ...",
        "Deleting temporary work directory ...",
        "",
        f"Staging of calibrated MS(s) for {staging.project} {staging.mous_file} "
        f"helpdesk ticket #{staging.ticket} completed at {url}",
        f"Data will be deleted 28 days from {_deletion_date(time.time())} "
        "unless you put a .donotremove into the directory.",
    ]


def _copy(staging: Staging, ebs: list[str], download: Path) -> list[str]:
    """Make one small tar per EB; return rsync's lines about them."""
    lines = ["Copying over the generated MSs ...", "receiving incremental file list"]
    total = 0
    for eb in ebs:
        tar = download / f"{eb}.ms.split.cal.tar"
        _write_tar(tar, staging, eb)
        total += tar.stat().st_size
        lines.append(tar.name)
    return [
        *lines,
        "",
        f"sent 42 bytes  received {total + 1024} bytes  {total * 10.0:.2f} bytes/sec",
        f"total size is {total}  speedup is 1.00",
    ]


def _failure(staging: Staging, hex_id: str, workdir: str) -> list[str]:
    return [
        f"Failed. Please investigate  {FAILED_DIR_BASE}/{hex_id} and possibly remove "
        f"incomplete data belonging to MOUS {staging.mous}",
        f"The working directory {workdir} on the EU ARC cluster was not removed.",
    ]


def _remember(root: Path, staging: Staging, hex_id: str) -> None:
    """Record the staging for reuse; written via rename so a reader never sees half of it."""
    index = root / "staged" / staging.mous_file
    tmp = index.with_name(f".{index.name}.{os.getpid()}")
    tmp.write_text(hex_id + "\n")
    tmp.replace(index)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m mailbot.simulator`."""
    staging = parse_args(sys.argv[1:] if argv is None else argv)
    return run(staging)


if __name__ == "__main__":
    sys.exit(main())
