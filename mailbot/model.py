"""Domain values shared by the pure middle (grammar, decide, reply) and the edges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

# The two spellings of a MOUS UID: the archive's URI form and the form of subjects and
# file names. re.ASCII: `\d` alone also matches Arabic-Indic, fullwidth... digits, which
# are no UID of ours and must not reach SQL or the stagecalms command line.
MOUS_URI = re.compile(r"uid://(A\d{3})/(X[0-9a-f]+)/(X[0-9a-f]+)", re.ASCII)
MOUS_FILE = re.compile(r"uid___(A\d{3})_(X[0-9a-f]+)_(X[0-9a-f]+)", re.ASCII)


def mous_file_form(mous: str) -> str:
    """`uid://A001/X1296/X675` -> `uid___A001_X1296_X675` (the subject/file-name form)."""
    m = MOUS_URI.fullmatch(mous)
    if not m:
        raise ValueError(f"not a MOUS UID in URI form: {mous!r}")
    return "uid___" + "_".join(m.groups())


@dataclass(frozen=True)
class Authentication:
    """What the receiving MTA's Authentication-Results say of a mail's From (RFC 8601)."""

    verified: bool  # dmarc=pass, or dkim/spf=pass aligned with the From domain
    evidence: str  # the result that vouches, or why none does


@dataclass(frozen=True)
class Origin:
    """Where a request came from: what a reply needs to thread and quote it."""

    channel: str  # "mail" or "trigger"
    sender: str  # bare address of From (or the trigger's EU ARC contact)
    sender_name: str = ""
    reply_to: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    message_id: str | None = None  # with angle brackets, as in the header
    references: tuple[str, ...] = ()
    date: datetime | None = None
    text: str = ""  # the plain text the request was read from, for quoting
    # None: not asked (a trigger file, or no inbox.authserv_id); never kept in the journal.
    authentication: Authentication | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Request:
    """One well-formed request for one MOUS (spec section 1)."""

    mous: str  # URI form, uid://A001/X1296/X675
    project: str
    calfields: tuple[str, ...]
    user_name: str
    user_email: str
    ticket: str
    arc_contact: str
    cc: tuple[str, ...]
    message_id: str | None
    received: datetime  # aware; the day of the request for entitlement
    origin: Origin = field(compare=False)

    @property
    def mous_file(self) -> str:
        return mous_file_form(self.mous)

    @property
    def calibrator_only(self) -> bool:
        return bool(self.calfields)


@dataclass(frozen=True)
class Malformed:
    """A request-shaped mail with problems an ARC staff member can act on."""

    problems: tuple[str, ...]
    origin: Origin


@dataclass(frozen=True)
class NotARequest:
    """Anything else; never answered, never touched."""

    reason: str
    # Not read at all (too large, nested too deep): kept with its bytes for AOG, who
    # can tell what it is; other mail that is no request is only recorded.
    keep: bool = False


Parsed = Request | Malformed | NotARequest


class VerdictCode(StrEnum):
    """Outcome of the checks; the wording of each line is configuration."""

    CYCLE_0 = "CYCLE_0"
    INVALID_MOUS = "INVALID_MOUS"
    PROJECT_MISMATCH = "PROJECT_MISMATCH"
    NO_QA0_PASS = "NO_QA0_PASS"
    UNKNOWN_CALFIELD = "UNKNOWN_CALFIELD"
    NOT_ENTITLED = "NOT_ENTITLED"
    NOT_DELIVERED = "NOT_DELIVERED"
    DUPLICATE = "DUPLICATE"
    STAGE = "STAGE"


@dataclass(frozen=True)
class Verdict:
    code: VerdictCode
    check: str  # name of the check that decided, recorded in the journal
    detail: dict[str, str] = field(default_factory=dict)  # values for the explanation
    # What it was judged on, kept by the journal so that AOG can ask "why" later
    # (`mailbot explain REQ`); not part of what the verdict is.
    passed: tuple[str, ...] = field(default=(), compare=False)  # the checks before `check`
    facts: Facts | None = field(default=None, compare=False)
    day: date | None = field(default=None, compare=False)  # the day of the request

    @property
    def stages(self) -> bool:
        return self.code is VerdictCode.STAGE


@dataclass(frozen=True)
class EntitlementRow:
    project_code: str
    role: str  # "PI" or "DELEGEE"
    email: str


@dataclass(frozen=True)
class FieldRow:
    """One row of the fields query as the archive gave it (what `mailbot explain` shows)."""

    name: str
    is_calibrator: bool
    intents: str | None = None  # the scan intents, when the query returns them


@dataclass(frozen=True)
class ReleaseRow:
    """One row of the release query: a delivery of the MOUS and its release date."""

    delivery: str  # "" when the query does not name it
    release_date: date | None  # None: not set yet


@dataclass(frozen=True)
class Facts:
    """What the archive says about one MOUS (one attribute per query file).

    `fields` and `release_date` are what the checks read, already folded so that
    they fail closed (see `mailbot.archive.facts`); the `*_rows` keep the rows
    they were folded from, for the explanation.
    """

    entitlement: tuple[EntitlementRow, ...]
    state: str | None
    qa0_pass: int
    fields: tuple[tuple[str, bool], ...]  # (field_name, is_calibrator), one per field
    release_date: date | None  # None: no release date, or one of the deliveries has none
    field_rows: tuple[FieldRow, ...] = ()
    release_rows: tuple[ReleaseRow, ...] = ()


@dataclass(frozen=True)
class StagingResult:
    """What stagecalms' terminal output says (spec section 4)."""

    ok: bool
    url: str | None
    deletion_date: str | None  # ISO day: "deleted N days from DATE" is DATE + N days
    exit_status: int | None
    problems: tuple[str, ...] = ()  # why it is a failure, when it is one
    ebs: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()
    total_bytes: int | None = None
    notices: tuple[str, ...] = ()  # calfield / RHEL5 informational lines
    failed_dir: str | None = None  # "Failed. Please investigate <dir>"
    workdir: str | None = None


@dataclass(frozen=True)
class OutgoingMail:
    """A rendered mail and its SMTP envelope (Bcc lives only in `rcpt_to`)."""

    kind: str  # verdict, malformed, completion, failure
    message_id: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes  # the exact bytes to transmit (never a Bcc header)
    subject: str
