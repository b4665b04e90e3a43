"""What stagecalms' output says (spec section 4): pure, no I/O.

A staging is ok only when stagecalms exited 0, printed the same well-formed URL
at its start and in its completion line, and that completion line names the
request the staging was started for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

from mailbot.model import Request, StagingResult

_START_URL = re.compile(r"The staging directory will be accessible at\s+(\S+)")
# Seen both on one line and as "completed\nat URL".
_END_URL = re.compile(r"Staging of calibrated MS\(s\) for ([^\n]*?)completed\s+at\s+(\S+)")
_DELETION = re.compile(r"Data will be deleted\s+(\d+)\s+days from\s+([^\n]+?)\s*unless")
# DATE as `date` prints it: "Fri Sep 27 14:04:04 UTC 2019" (any zone word, or none).
_DATE = re.compile(r"[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+[\d:]+\s+(?:\S+\s+)?(\d{4})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CALFIELD_NOTICE = re.compile(r"^\*\*\* Based on your selection, only data for field .*\*\*\*$")
_RHEL5_NOTICE = "Old project, using RHEL5 build of CASA."
_REUSED = re.compile(r"Found pre-existing\s+(\S+)")
_EB_LINE = re.compile(r"^\s*(uid___A\d{3}_X[0-9a-f]+_X[0-9a-f]+)(?=\s|$)", re.MULTILINE)
_EB_NOT_FOUND = re.compile(r"MS for (uid___A\d{3}_X[0-9a-f]+_X[0-9a-f]+) was not found")
_TOTAL_SIZE = re.compile(r"total size is\s+(\d+)")
_FAILED = re.compile(r"Failed\. Please investigate\s+(\S+)")
_WORKDIR = re.compile(r"The working directory\s+(\S+)\s+on the EU ARC cluster was not removed")
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~%+/-]*)?")


def well_formed_url(url: str) -> bool:
    """An http(s) URL with a host and only plain path characters (it goes into a mail)."""
    if not _URL.fullmatch(url):
        return False
    parts = urlsplit(url)
    host = parts.hostname or ""
    return bool(host) and ".." not in host and not host.startswith(("-", "."))


@dataclass(frozen=True)
class Expected:
    """What the completion line must name: the request this staging was started for."""

    project: str
    mous_file: str
    ticket: str

    @classmethod
    def of(cls, request: Request) -> Expected:
        """What a staging started for `request` must complete."""
        return cls(request.project, request.mous_file, request.ticket)


def parse_output(output: str, exit_status: int | None,
                 expected: Expected | None = None) -> StagingResult:
    """What a stagecalms run says; ok only with exit 0, the same valid URL at start and end
    and, given `expected`, a completion line naming this request's project, MOUS and ticket.
    """
    text = output.replace("\r\n", "\n")
    start = _START_URL.search(text)
    completions = _END_URL.findall(text)
    ends = [url for _, url in completions]
    failed = _FAILED.search(text)
    workdir = _WORKDIR.search(text)
    deletion = _DELETION.search(text)
    lines = [line.strip() for line in text.splitlines()]
    notices = [line for line in lines if line == _RHEL5_NOTICE or _CALFIELD_NOTICE.match(line)]
    totals = [int(size) for size in _TOTAL_SIZE.findall(text)]
    # Each EB and reused MS once, in the order stagecalms named them.
    ebs = tuple(dict.fromkeys(_EB_LINE.findall(text) + _EB_NOT_FOUND.findall(text)))
    reused = tuple(dict.fromkeys(_REUSED.findall(text)))
    problems = _problems(
        exit_status,
        failed.group(0) if failed else None,
        start.group(1) if start else None,
        ends[-1] if ends else None,
    )
    if expected is not None and completions:
        problems += _foreign(completions[-1][0], expected)
    ok = not problems
    return StagingResult(
        ok=ok,
        url=ends[-1] if ok else None,
        deletion_date=_deletion_day(deletion.group(1), deletion.group(2)) if deletion else None,
        exit_status=exit_status,
        problems=problems,
        ebs=ebs,
        reused=reused,
        total_bytes=sum(totals) if totals else None,
        notices=tuple(notices),
        failed_dir=failed.group(1) if failed else None,
        workdir=workdir.group(1) if workdir else None,
    )


def _deletion_day(days: str, stamp: str) -> str | None:
    """The day (ISO) "deleted N days from DATE" means; None when DATE is not `date`'s."""
    match = _DATE.fullmatch(stamp.strip())
    if not match or match.group(1).title() not in _MONTHS:
        return None
    month = _MONTHS.index(match.group(1).title()) + 1
    try:
        start = date(int(match.group(3)), month, int(match.group(2)))
    except ValueError:
        return None
    return (start + timedelta(days=int(days))).isoformat()


def _foreign(named: str, expected: Expected) -> tuple[str, ...]:
    """A completion line for another request: never send its URL to this user."""
    ticket = re.search(rf"(?<!\d){re.escape(expected.ticket)}(?!\d)", named)
    if expected.project in named and expected.mous_file in named and ticket:
        return ()
    return (f"the completion line names '{' '.join(named.split())}', not "
            f"{expected.project} {expected.mous_file} helpdesk ticket #{expected.ticket}",)


def _problems(
    exit_status: int | None, failed: str | None, start_url: str | None, end_url: str | None
) -> tuple[str, ...]:
    problems: list[str] = []
    if exit_status is None:
        problems.append("stagecalms ended without an exit status (killed or vanished)")
    elif exit_status != 0:
        problems.append(f"stagecalms exited with status {exit_status}")
    if failed:
        problems.append(f"stagecalms reported: {failed}")
    if start_url is None:
        problems.append("no line 'The staging directory will be accessible at URL'")
    elif not well_formed_url(start_url):
        problems.append(f"the staging directory URL is not a well-formed http(s) URL: {start_url}")
    if end_url is None:
        problems.append("no completion line 'Staging of calibrated MS(s) ... completed at URL'")
    elif not well_formed_url(end_url):
        problems.append(f"the completion URL is not a well-formed http(s) URL: {end_url}")
    if start_url and end_url and start_url != end_url:
        problems.append(
            f"the staging directory URL ({start_url}) and the completion URL ({end_url}) differ"
        )
    return tuple(problems)
