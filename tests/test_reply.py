"""Rendering of every mail the bot sends: golden files plus properties of the bytes.

Golden files live in tests/golden/<case>.eml; `UPDATE_GOLDEN=1 pytest tests/test_reply.py`
rewrites them (review the diff by eye before committing).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot import grammar
from mailbot.config import Addresses, Config, Replies
from mailbot.model import (
    Malformed,
    NotARequest,
    Origin,
    OutgoingMail,
    Request,
    StagingResult,
    Verdict,
    VerdictCode,
)
from mailbot.reply import (
    TRUNCATION_MARKER,
    ReplySettings,
    Templates,
    message_id,
    quote,
    render_completion,
    render_failure,
    render_malformed,
    render_notice,
    render_verdict,
    reply_subject,
)

GOLDEN = Path(__file__).parent / "golden"
QUEUED_AT = datetime(2019, 9, 27, 14, 30, 0, tzinfo=UTC)
URL = "http://almascience.eso.org/arcdistribution/preview/8672af71dac32e0ad9703dae3438fcac"
ANY_CHAR = st.characters(exclude_categories=["Cs"])  # lone surrogates are not text
REQUEST_ID = "<20190902140027.4711@arc.eso.org>"
VERDICT_LINES = {
    "CYCLE_0": "CYCLE 0 PROJECT",
    "INVALID_MOUS": "INVALID MOUS UID",
    "PROJECT_MISMATCH": "PROJECT CODE MISMATCH",
    "NO_QA0_PASS": "NO QA0_PASS DATA",
    "UNKNOWN_CALFIELD": "UNKNOWN CALIBRATOR FIELD",
    "NOT_ENTITLED": "NOT ENTITLED",
    "NOT_DELIVERED": "MOUS NOT DELIVERED",
    "DUPLICATE": "DUPLICATE REQUEST",
    "MALFORMED": "MALFORMED REQUEST",
}
REQUEST_TEXT = """Dear AOG,
please create the calibrated MS for MOUS uid___A001_X1296_X675
project 2017.1.00727.S
for user Judit Szulágyi
email judits@phys.ethz.ch
helpdesk ticket 16140

Cheers,
Elisabeth
"""


def make_config(**replies: object) -> Config:
    """Explicit settings, so that a change of the embedded defaults leaves the goldens."""
    return Config(
        addresses=Addresses(
            aog="aog@eso.org",
            aog_name="ALMA Archive Operations",
            maintainer="dpetry@eso.org",
            no_reply="no_reply_eu_data_delivery@eso.org",
            own=["AOG-Alias@eso.org"],
            message_id_domain="",
        ),
        replies=Replies(**replies),  # type: ignore[arg-type]
        verdicts=dict(VERDICT_LINES),
    )


def inputs(config: Config | None = None) -> tuple[ReplySettings, Templates]:
    """What the render functions are given of the settings (`make_config()` by default)."""
    config = config or make_config()
    return config.reply_settings, config.templates


def mail_origin(**changes: object) -> Origin:
    values: dict[str, object] = {
        "channel": "mail",
        "sender": "ekarrstrom@eso.org",
        "sender_name": "Elisabeth Kärrström",
        "to": ("aog@eso.org",),
        "cc": ("ekarrstrom@eso.org", "dpetry@eso.org", "aog-alias@eso.org"),
        "subject": "ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675",
        "message_id": REQUEST_ID,
        "references": ("<thread-start@arc.eso.org>",),
        "date": datetime(2019, 9, 2, 14, 0, 27, tzinfo=timezone(timedelta(hours=2))),
        "text": REQUEST_TEXT,
    }
    values.update(changes)
    return Origin(**values)  # type: ignore[arg-type]


def trigger_origin() -> Origin:
    return Origin(
        channel="trigger",
        sender="evkampe@eso.org",
        cc=("dpetry@eso.org",),
        subject="ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675",
        message_id=None,
        text=REQUEST_TEXT.replace("Judit Szulágyi", "Judit Szulagyi"),
    )


def make_request(origin: Origin | None = None, **changes: object) -> Request:
    origin = origin or mail_origin()
    values: dict[str, object] = {
        "mous": "uid://A001/X1296/X675",
        "project": "2017.1.00727.S",
        "calfields": (),
        "user_name": "Judit Szulágyi",
        "user_email": "judits@phys.ethz.ch",
        "ticket": "16140",
        "arc_contact": "ekarrstrom@eso.org",
        "cc": ("dpetry@eso.org",),
        "message_id": origin.message_id,
        "received": datetime(2019, 9, 2, 12, 0, 27, tzinfo=UTC),
        "origin": origin,
    }
    values.update(changes)
    return Request(**values)  # type: ignore[arg-type]


def ok_result() -> StagingResult:
    return StagingResult(
        ok=True, url=URL, deletion_date="2019-10-25", exit_status=0
    )


FAILURE_OUTPUT = (
    "The staging directory will be accessible at http://almascience.eso.org/arcdistribution"
    "/preview/cdb386950af8ee148b3a9bc633942c6a\n"
    "Looking for cluster node with low load ...\n"
    "DATAMACHINE chosen: arcp14\n" + "rsync: " + "x" * 1500 + "\n"
    "Failed. Please investigate  /var/www/html/arcdistribution/preview/"
    "cdb386950af8ee148b3a9bc633942c6a and possibly remove incomplete data belonging to "
    "MOUS uid://A001/X11f/X9c\n"
    "The working directory /opsw/work/pipeproc/autopipeline/tmp/WORK23486 on the EU ARC "
    "cluster was not removed.\n"
)
FAILURE_COMMAND = "stagecalms.sh 2017.1.00727.S uid://A001/X1296/X675 16140"


def failed_result() -> StagingResult:
    return StagingResult(
        ok=False,
        url=None,
        deletion_date=None,
        exit_status=1,
        problems=("stagecalms reported Failed", "exit status 1"),
        failed_dir="/var/www/html/arcdistribution/preview/cdb386950af8ee148b3a9bc633942c6a",
        workdir="/opsw/work/pipeproc/autopipeline/tmp/WORK23486",
    )


def failure_mail(request: Request, output: str, key: str) -> OutgoingMail:
    """The failure mail of job 7 of `request`, whose staging printed `output`."""
    return render_failure(*inputs(), request, command=FAILURE_COMMAND, output=output,
                          result=failed_result(), job_name="7", key=key, queued_at=QUEUED_AT)


def verdict_case(
    code: VerdictCode, detail: dict[str, str] | None = None, **request_changes: object
) -> OutgoingMail:
    if code is VerdictCode.UNKNOWN_CALFIELD:
        request_changes.setdefault("calfields", ("J0510+1800", "J0321+1234"))
    request = make_request(None, **request_changes)
    verdict = Verdict(code=code, check=code.value.lower(), detail=detail or {})
    return render_verdict(*inputs(), request, verdict, key="request:12", queued_at=QUEUED_AT)


CASES: dict[str, Callable[[], OutgoingMail]] = {
    "verdict_CYCLE_0": lambda: verdict_case(VerdictCode.CYCLE_0, project="2011.0.00099.S"),
    "verdict_INVALID_MOUS": lambda: verdict_case(VerdictCode.INVALID_MOUS),
    "verdict_PROJECT_MISMATCH": lambda: verdict_case(
        VerdictCode.PROJECT_MISMATCH,
        {"archive_project": "2018.1.01406.S", "request_project": "2017.1.00727.S"},
    ),
    "verdict_NO_QA0_PASS": lambda: verdict_case(VerdictCode.NO_QA0_PASS),
    "verdict_UNKNOWN_CALFIELD": lambda: verdict_case(
        VerdictCode.UNKNOWN_CALFIELD, {"fields": "J0321+1234"}
    ),
    "verdict_NOT_ENTITLED": lambda: verdict_case(VerdictCode.NOT_ENTITLED),
    "verdict_NOT_DELIVERED": lambda: verdict_case(
        VerdictCode.NOT_DELIVERED, {"state": "QA3InProgress"}
    ),
    "verdict_DUPLICATE": lambda: verdict_case(VerdictCode.DUPLICATE),
    "verdict_trigger_NOT_ENTITLED": lambda: render_verdict(
        *inputs(),
        make_request(trigger_origin(), user_name="Judit Szulagyi", arc_contact="evkampe@eso.org"),
        Verdict(VerdictCode.NOT_ENTITLED, "entitlement"),
        key="request:13",
        queued_at=QUEUED_AT,
    ),
    "malformed": lambda: render_malformed(
        *inputs(),
        Malformed(
            problems=("no helpdesk ticket line", "project 2017.1.727.S is not a project code"),
            origin=mail_origin(subject="Re: RE: Aw: ALMA: REQUEST FOR CALIBRATED DATA"),
        ),
        key="message:<x@y>",
        queued_at=QUEUED_AT,
    ),
    "completion": lambda: render_completion(
        *inputs(), make_request(), ok_result(), key="request:12", queued_at=QUEUED_AT
    ),
    "completion_trigger_ascii": lambda: render_completion(
        *inputs(),
        make_request(trigger_origin(), user_name="Judit Szulagyi", arc_contact="evkampe@eso.org"),
        StagingResult(ok=True, url=URL, deletion_date=None, exit_status=0),
        key="request:13",
        queued_at=QUEUED_AT,
    ),
    "failure": lambda: failure_mail(make_request(), FAILURE_OUTPUT, "job:7:attempt:1"),
    "notice": lambda: render_notice(
        *inputs(), "runaway@eso.org",
        "more than 30 requests from runaway@eso.org in 24 h (limits.requests_per_day)",
        key="notice:runaway@eso.org:2019-09-27", queued_at=QUEUED_AT),
}


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    """The decoded body with the wire's CRLF line ends read back as LF."""
    content = msg.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def header_block(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


# --- golden files --------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    data = CASES[case]().data
    golden = GOLDEN / f"{case}.eml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        golden.write_bytes(data)
    assert data == golden.read_bytes()


def test_every_reply_template_has_a_golden() -> None:
    templates = Path(__file__).parents[1] / "templates" / "replies"
    names = {p.name.removesuffix(".txt.j2") for p in templates.glob("*.txt.j2")}
    expected = {f"verdict_{c.value}" for c in VerdictCode if c is not VerdictCode.STAGE}
    assert names == expected | {"malformed", "completion", "failure", "notice"}
    assert names <= set(CASES)


# --- properties of every rendered mail -------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_bytes_parse_strictly_without_defects(case: str) -> None:
    msg = parse(CASES[case]().data)
    assert not msg.defects
    for name, value in msg.items():
        assert not getattr(value, "defects", ()), (name, value)
    assert msg.get_content_type() == "text/plain"
    text_of(msg)  # decodes


@pytest.mark.parametrize("case", sorted(CASES))
def test_lines_are_crlf_and_at_most_998_octets(case: str) -> None:
    data = CASES[case]().data
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    assert header_block(data).isascii()


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_bcc_header_and_fixed_headers(case: str) -> None:
    mail = CASES[case]()
    msg = parse(mail.data)
    assert not re.search(rb"(?im)^bcc:", header_block(mail.data))
    assert msg["From"].addresses[0].addr_spec == "aog@eso.org"
    assert msg["From"].addresses[0].display_name == "ALMA Archive Operations"
    assert mail.mail_from == "aog@eso.org"
    assert msg["X-Mailbot-Loop"] == "aog@eso.org"
    assert msg["Date"].datetime == QUEUED_AT
    assert msg["Message-ID"] == mail.message_id
    assert msg["Subject"] == mail.subject
    expected = "auto-replied" if mail.kind in ("verdict", "malformed") else "auto-generated"
    assert msg["Auto-Submitted"] == expected


# --- verdict replies ---------------------------------------------------------------


def test_verdict_reply_addresses_thread_and_first_line() -> None:
    mail = CASES["verdict_NOT_ENTITLED"]()
    msg = parse(mail.data)
    assert [a.addr_spec for a in msg["To"].addresses] == ["ekarrstrom@eso.org"]
    assert msg["To"].addresses[0].display_name == "Elisabeth Kärrström"
    assert b"=?utf-8?" in header_block(mail.data)  # RFC 2047, not raw UTF-8
    # own addresses (aog@ and its alias, any case) and the To address are not copied
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["dpetry@eso.org"]
    assert mail.rcpt_to == ("ekarrstrom@eso.org", "dpetry@eso.org")
    assert msg["In-Reply-To"] == REQUEST_ID
    assert msg["References"].split() == ["<thread-start@arc.eso.org>", REQUEST_ID]
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Mailbot-Verdict"] == "NOT ENTITLED"
    assert mail.subject == "Re: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675"
    body = text_of(msg)
    assert body.split("\n")[:2] == ["NOT ENTITLED", ""]
    assert "You presently do not have access permission for the requested data." in body
    assert "On Mon, 02 Sep 2019 14:00:27 +0200, Elisabeth Kärrström" in body
    assert "> for user Judit Szulágyi\n" in body
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"


def test_cc_copies_recipients_given_with_display_names() -> None:
    origin = mail_origin(
        to=("ALMA Archive Operations <AOG@eso.org>",),
        cc=('"Petry, Dirk" <DPetry@eso.org>', "dpetry@eso.org", "Elisabeth <EKarrstrom@eso.org>"),
    )
    mail = render_verdict(
        *inputs(),
        make_request(origin),
        Verdict(VerdictCode.NOT_DELIVERED, "state"),
        key="request:1",
        queued_at=QUEUED_AT,
    )
    assert mail.rcpt_to == ("ekarrstrom@eso.org", "DPetry@eso.org")
    assert [a.addr_spec for a in parse(mail.data)["Cc"].addresses] == ["DPetry@eso.org"]


def test_verdict_reply_goes_to_reply_to_when_set() -> None:
    origin = mail_origin(reply_to=("helpdesk@eso.org",))
    mail = render_verdict(
        *inputs(),
        make_request(origin),
        Verdict(VerdictCode.NOT_DELIVERED, "state", {"state": "Processing"}),
        key="request:1",
        queued_at=QUEUED_AT,
    )
    msg = parse(mail.data)
    assert [a.addr_spec for a in msg["To"].addresses] == ["helpdesk@eso.org"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["ekarrstrom@eso.org", "dpetry@eso.org"]
    assert mail.rcpt_to == ("helpdesk@eso.org", "ekarrstrom@eso.org", "dpetry@eso.org")
    assert "is in state Processing." in " ".join(text_of(msg).split())


def test_verdict_lines_come_from_config() -> None:
    lines = {**VERDICT_LINES, "NOT_DELIVERED": "MOUS NICHT GELIEFERT – bitte prüfen"}
    config = dataclasses.replace(make_config(), verdicts=lines)
    mail = render_verdict(
        *inputs(config),
        make_request(),
        Verdict(VerdictCode.NOT_DELIVERED, "state"),
        key="request:1",
        queued_at=QUEUED_AT,
    )
    msg = parse(mail.data)
    assert text_of(msg).startswith("MOUS NICHT GELIEFERT – bitte prüfen\n\n")
    assert msg["X-Mailbot-Verdict"] == "MOUS NICHT GELIEFERT – bitte prüfen"
    assert "has no known state" in text_of(msg)  # empty detail renders, no crash


@pytest.mark.parametrize("code", [c for c in VerdictCode if c is not VerdictCode.STAGE])
def test_every_verdict_renders_with_empty_detail(code: VerdictCode) -> None:
    msg = parse(verdict_case(code).data)
    assert text_of(msg).startswith(VERDICT_LINES[code.value] + "\n\n")
    assert "None" not in text_of(msg)


def test_stage_verdict_has_no_reply() -> None:
    with pytest.raises(ValueError):
        verdict_case(VerdictCode.STAGE)


def test_trigger_request_without_message_id_is_not_threaded() -> None:
    mail = CASES["verdict_trigger_NOT_ENTITLED"]()
    msg = parse(mail.data)
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None
    assert mail.rcpt_to == ("evkampe@eso.org", "dpetry@eso.org")
    body = text_of(msg)
    # No Date to quote: the attribution is dated by the request's receipt.
    assert "\nOn Mon, 02 Sep 2019 12:00:27 +0000, evkampe@eso.org wrote:\n> Dear AOG,\n" in body
    assert msg["Content-Transfer-Encoding"] == "7bit"


def test_long_message_ids_are_copied_verbatim() -> None:
    long_id = "<" + "a1" * 60 + "@EUR01.prod.exchangelabs.com>"
    refs = tuple(f"<ref{i}@example.org>" for i in range(40))
    origin = mail_origin(message_id=long_id, references=(*refs, "not an id", "<a b@c>"))
    mail = render_verdict(
        *inputs(),
        make_request(origin),
        Verdict(VerdictCode.CYCLE_0, "cycle0"),
        key="request:2",
        queued_at=QUEUED_AT,
    )
    assert long_id.encode() in mail.data  # not RFC 2047 encoded
    msg = parse(mail.data)
    assert msg["In-Reply-To"] == long_id
    references = msg["References"].split()
    assert references[0] == "<ref0@example.org>"
    assert references[-2:] == ["<ref39@example.org>", long_id]
    assert len(references) == 20


@pytest.mark.parametrize(
    "subject",
    [
        "ALMA: REQUEST",
        "Re: ALMA: REQUEST",
        "RE: ALMA: REQUEST",
        "Aw: ALMA: REQUEST",
        "AW: Re: re : ALMA: REQUEST",
        "re :ALMA: REQUEST",
        "Re[2]: ALMA: REQUEST",
        "  Re:   ALMA: REQUEST",
    ],
)
def test_reply_subject_has_one_re(subject: str) -> None:
    assert reply_subject(subject) == "Re: ALMA: REQUEST"
    mail = render_verdict(
        *inputs(),
        make_request(mail_origin(subject=subject)),
        Verdict(VerdictCode.CYCLE_0, "cycle0"),
        key="request:3",
        queued_at=QUEUED_AT,
    )
    assert parse(mail.data)["Subject"] == "Re: ALMA: REQUEST"
    assert b"Re: Re:" not in mail.data


@given(
    prefixes=st.lists(st.sampled_from(["Re:", "RE:", "Aw:", "AW: ", "re :", " Re: ", "SV:"])),
    rest=st.text(ANY_CHAR, max_size=40),
)
def test_reply_subject_never_stacks(prefixes: list[str], rest: str) -> None:
    subject = reply_subject("".join(prefixes) + rest)
    assert subject.startswith("Re: ")
    assert not re.match(r"(?i)\s*(re|aw|sv)\s*:", subject[4:])
    assert "\n" not in subject and "\r" not in subject


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(ANY_CHAR, max_size=60),
    subject=st.text(ANY_CHAR, max_size=200),
    text=st.text(ANY_CHAR, max_size=3000),
    ticket=st.from_regex(r"[0-9]{1,7}", fullmatch=True),
)
def test_any_request_renders_to_clean_bytes(
    name: str, subject: str, text: str, ticket: str
) -> None:
    origin = mail_origin(sender_name=name, subject=subject, text=text)
    request = make_request(origin, user_name=name, ticket=ticket)
    mails = [
        render_verdict(
            *inputs(),
            request,
            Verdict(VerdictCode.NOT_ENTITLED, "entitlement"),
            key="k",
            queued_at=QUEUED_AT,
        ),
        render_malformed(
            *inputs(), Malformed((subject or "x",), origin), key="k", queued_at=QUEUED_AT
        ),
        render_completion(*inputs(), request, ok_result(), key="k", queued_at=QUEUED_AT),
        failure_mail(request, text, "k"),
    ]
    for mail in mails:
        lines = mail.data.split(b"\r\n")
        assert max(len(line) for line in lines) <= 998
        assert header_block(mail.data).isascii()
        msg = parse(mail.data)
        assert not msg.defects
        assert not re.search(rb"(?im)^bcc:", header_block(mail.data))
        assert not msg["Subject"].startswith(("Re: Re:", "Re: RE:", "Re: Aw:"))
        assert msg["Subject"] == mail.subject
    assert text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") in text_of(
        parse(mails[3].data)
    )


def test_long_and_non_ascii_subject_stays_within_limits() -> None:
    subject = "Aw: ALMA: Anfrage von Kärrström " + "x" * 1200
    mail = render_verdict(
        *inputs(),
        make_request(mail_origin(subject=subject)),
        Verdict(VerdictCode.CYCLE_0, "cycle0"),
        key="request:4",
        queued_at=QUEUED_AT,
    )
    assert max(len(line) for line in mail.data.split(b"\r\n")) <= 998
    # The original subject is kept to its first 200 characters.
    assert parse(mail.data)["Subject"] == "Re: " + subject[4:204] + "…"


# --- quoting -----------------------------------------------------------------------


def test_quote_marks_every_line() -> None:
    assert quote("a\r\n\nb\n", 1000) == "> a\n>\n> b"


def test_quote_is_capped_at_a_character_boundary() -> None:
    text = "ä" * 10_000 + "\nlast line\n"
    quoted = quote(text, 1001)
    assert quoted.endswith("\n" + TRUNCATION_MARKER)
    kept = quoted.removesuffix("\n" + TRUNCATION_MARKER)
    assert len(kept.removeprefix("> ").encode()) <= 1001
    assert set(kept.removeprefix("> ")) == {"ä"}
    assert "last line" not in quoted


def test_reply_quote_is_capped_by_config() -> None:
    origin = mail_origin(text="line of the request\n" * 5000)
    mail = render_verdict(
        *inputs(make_config(quote_max_bytes=200)),
        make_request(origin),
        Verdict(VerdictCode.CYCLE_0, "cycle0"),
        key="request:5",
        queued_at=QUEUED_AT,
    )
    body = text_of(parse(mail.data))
    assert body.count("> line of the request") == 10
    assert body.rstrip().endswith(TRUNCATION_MARKER)
    assert len(mail.data) < 3000


# --- malformed -----------------------------------------------------------------------


def test_malformed_lists_every_problem() -> None:
    mail = CASES["malformed"]()
    msg = parse(mail.data)
    body = text_of(msg)
    assert body.startswith("MALFORMED REQUEST\n\n")
    assert "  - no helpdesk ticket line\n" in body
    assert "  - project 2017.1.727.S is not a project code\n" in body
    assert "fresh mail" in body
    assert mail.subject == "Re: ALMA: REQUEST FOR CALIBRATED DATA"
    assert msg["X-Mailbot-Verdict"] == "MALFORMED REQUEST"
    assert msg["In-Reply-To"] == REQUEST_ID
    assert mail.kind == "malformed"


# --- an auto-responder echoing a reply back -------------------------------------------

EMAILS = Path(__file__).parent / "emails"
ECHO_RECEIVED = datetime(2019, 9, 28, 8, 0, tzinfo=UTC)


def corpus_malformed() -> list[tuple[str, Malformed]]:
    """The Malformed result of every malformed mail and trigger file of the grammar corpus."""
    config = make_config()
    found: list[tuple[str, Malformed]] = []
    for path in sorted(EMAILS.iterdir()):
        if path.suffix == ".txt":
            parsed = grammar.parse_trigger(path.read_text(encoding="utf-8"), file_name=path.name,
                                           received=ECHO_RECEIVED,
                                           own_addresses=config.own_addresses)
        elif path.suffix == ".eml":
            parsed = grammar.parse_message(path.read_bytes(), received=ECHO_RECEIVED,
                                           own_addresses=config.own_addresses)
        else:
            continue
        if isinstance(parsed, Malformed):
            found.append((path.name, parsed))
    return found


CORPUS_MALFORMED = corpus_malformed()


def echo(mail: OutgoingMail, subject: str, headers: str = "") -> bytes:
    """What a ticket system without RFC 3834 headers sends back: the text, unquoted."""
    body = text_of(parse(mail.data))
    return (
        "From: Helpdesk <helpdesk@tickets.example.org>\nTo: aog@eso.org\n"
        f"Subject: {subject}\nMessage-ID: <echo-1@tickets.example.org>\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def echo_subjects(mail: OutgoingMail) -> list[str]:
    original = mail.subject.removeprefix("Re: ")
    return [mail.subject, f"[Ticket#123] {mail.subject}", original, "Your mail to us"]


def read_echo(raw: bytes, config: Config) -> object:
    return grammar.parse_message(raw, received=ECHO_RECEIVED, own_addresses=config.own_addresses,
                                 loop_header=config.replies.loop_header,
                                 own_id_domains=frozenset({config.message_id_domain}))


def test_the_corpus_has_malformed_mails_and_triggers() -> None:
    names = [name for name, _ in CORPUS_MALFORMED]
    assert len(names) >= 10
    assert any(name.startswith("trigger-") for name in names)


@pytest.mark.parametrize(("name", "malformed"), CORPUS_MALFORMED,
                         ids=[n for n, _ in CORPUS_MALFORMED])
def test_an_echoed_malformed_reply_is_not_answered_again(name: str, malformed: Malformed) -> None:
    config = make_config()
    mail = render_malformed(*inputs(config), malformed, key=f"message:{name}", queued_at=QUEUED_AT)
    assert "please create the calibrated MS for MOUS <" in text_of(parse(mail.data))
    for subject in echo_subjects(mail):
        plain = read_echo(echo(mail, subject), config)
        assert isinstance(plain, NotARequest), (subject, plain)
        threaded = read_echo(echo(mail, subject, f"In-Reply-To: {mail.message_id}\n"), config)
        assert isinstance(threaded, NotARequest), (subject, threaded)
        assert threaded.reason == f"reply to the bot's own mail {mail.message_id}"


@pytest.mark.parametrize("case", sorted(c for c in CASES if c.startswith(("verdict", "malformed"))))
def test_every_echoed_reply_golden_is_not_a_request(case: str) -> None:
    config = make_config()
    mail = CASES[case]()
    for subject in echo_subjects(mail):
        plain = read_echo(echo(mail, subject), config)
        assert isinstance(plain, NotARequest), (subject, plain)
        references = f"References: <ticket-1@tickets.example.org>\n {mail.message_id}\n"
        threaded = read_echo(echo(mail, subject, references), config)
        assert isinstance(threaded, NotARequest) and "bot's own mail" in threaded.reason


def test_the_malformed_format_lines_are_copyable_and_short() -> None:
    body = text_of(parse(CASES["malformed"]().data))
    lines = [line.strip() for line in body.split("\n")]
    start = lines.index("please create the calibrated MS for MOUS <e.g. uid___A001_X1296_X675>")
    keywords = ["please create the calibrated MS for MOUS", "project", "calfield", "for user",
                "email", "helpdesk ticket"]
    block = lines[start:start + len(keywords)]
    assert [line.split(" <")[0] for line in block] == keywords
    # Every value a placeholder, every line short enough to survive a re-wrap at 72.
    assert all(line.endswith(">") and len(line) <= 72 for line in block)


# --- who gets the reply -------------------------------------------------------------------

RENDERERS: dict[str, Callable[[Config, Origin], OutgoingMail]] = {
    "verdict": lambda config, origin: render_verdict(
        *inputs(config), make_request(origin), Verdict(VerdictCode.NOT_ENTITLED, "entitlement"),
        key="request:1", queued_at=QUEUED_AT),
    "malformed": lambda config, origin: render_malformed(
        *inputs(config), Malformed(("no 'project' line",), origin), key="message:<m@x>",
        queued_at=QUEUED_AT),
}


def recipients(mail: OutgoingMail) -> tuple[list[str], list[str]]:
    msg = parse(mail.data)
    to = [a.addr_spec for a in msg["To"].addresses]
    cc = [a.addr_spec for a in msg["Cc"].addresses] if msg["Cc"] else []
    return to, cc


@pytest.mark.parametrize("kind", sorted(RENDERERS))
@pytest.mark.parametrize("own", ["aog@eso.org", "AOG@ESO.org", "aog-alias@eso.org",
                                 "No_Reply_EU_Data_Delivery@eso.org"])
def test_a_reply_to_of_the_bots_own_address_falls_back_to_the_sender(kind: str, own: str) -> None:
    mail = RENDERERS[kind](make_config(), mail_origin(reply_to=(own,), cc=("dpetry@eso.org",)))
    to, cc = recipients(mail)
    assert to == ["ekarrstrom@eso.org"]
    assert parse(mail.data)["To"].addresses[0].display_name == "Elisabeth Kärrström"
    assert cc == ["dpetry@eso.org"]
    assert mail.rcpt_to == ("ekarrstrom@eso.org", "dpetry@eso.org")


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_a_foreign_reply_to_takes_the_to_and_the_sender_is_copied(kind: str) -> None:
    origin = mail_origin(reply_to=("aog@eso.org", "Helpdesk@eso.org"), to=("aog@eso.org",),
                         cc=("helpdesk@eso.org", "dpetry@eso.org"))
    mail = RENDERERS[kind](make_config(), origin)
    to, cc = recipients(mail)
    assert to == ["Helpdesk@eso.org"]
    assert cc == ["ekarrstrom@eso.org", "dpetry@eso.org"]
    assert parse(mail.data)["Cc"].addresses[0].display_name == "Elisabeth Kärrström"
    assert mail.rcpt_to == ("Helpdesk@eso.org", "ekarrstrom@eso.org", "dpetry@eso.org")


def test_a_reply_to_naming_the_sender_is_not_copied_twice() -> None:
    origin = mail_origin(reply_to=("EKarrstrom@eso.org",), cc=("ekarrstrom@eso.org",))
    to, cc = recipients(RENDERERS["verdict"](make_config(), origin))
    assert to == ["EKarrstrom@eso.org"] and cc == []


ADDRESS_POOL = ["ekarrstrom@eso.org", "EKARRSTROM@eso.org", "aog@eso.org", "Aog-Alias@eso.org",
                "no_reply_eu_data_delivery@eso.org", "helpdesk@eso.org", "HelpDesk@eso.org",
                "dpetry@eso.org", "user@example.org"]
SOME_ADDRESSES = st.lists(st.sampled_from(ADDRESS_POOL), max_size=4).map(tuple)


@settings(max_examples=200)
@given(reply_to=SOME_ADDRESSES, to=SOME_ADDRESSES, cc=SOME_ADDRESSES,
       kind=st.sampled_from(sorted(RENDERERS)))
def test_recipients_hold_the_sender_once_and_never_the_bot(
    reply_to: tuple[str, ...], to: tuple[str, ...], cc: tuple[str, ...], kind: str
) -> None:
    config = make_config()
    mail = RENDERERS[kind](config, mail_origin(reply_to=reply_to, to=to, cc=cc))
    to_header, cc_header = recipients(mail)
    everyone = [a.lower() for a in [*to_header, *cc_header]]
    assert len(everyone) == len(set(everyone))
    assert not set(everyone) & config.own_addresses
    assert "ekarrstrom@eso.org" in everyone
    assert [a.lower() for a in mail.rcpt_to] == everyone
    # No reflector: a stranger named anywhere in the request gets nothing.
    assert "user@example.org" not in everyone
    staff = [a.lower() for a in reply_to
             if a.lower() not in config.own_addresses and a.endswith("@eso.org")]
    wanted_to = list(dict.fromkeys(staff)) or ["ekarrstrom@eso.org"]
    assert [a.lower() for a in to_header] == wanted_to


# --- completion ------------------------------------------------------------------------


def test_completion_blind_copies_only_in_envelope() -> None:
    mail = CASES["completion"]()
    msg = parse(mail.data)
    assert mail.kind == "completion"
    # The ARC contact is an ARC contact only through "@eso.org": no link to proprietary data.
    assert mail.rcpt_to == (
        "judits@phys.ethz.ch",
        "dpetry@eso.org",
        "aog@eso.org",
    )
    assert b"ekarrstrom" not in mail.data and b"dpetry" not in mail.data
    assert msg["Cc"] is None
    assert msg["To"].addresses[0].display_name == "Judit Szulágyi"
    assert msg["To"].addresses[0].addr_spec == "judits@phys.ethz.ch"
    assert b"Szul=C3=A1gyi" in header_block(mail.data)
    assert msg["Reply-To"] == "no_reply_eu_data_delivery@eso.org"
    assert mail.subject == (
        "Re: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675, helpdesk ticket 16140"
    )
    assert msg["In-Reply-To"] == REQUEST_ID
    assert text_of(msg) == (
        "Your calibrated data is ready for download from\n"
        f"{URL}\n\n"
        "It will be deleted on 2019-10-25.\n\n"
        "Kind regards,\n\nThe ESO ALMA Team\n"
    )


def contacts_config(*arc_contacts: str) -> Config:
    return dataclasses.replace(make_config(), addresses=dataclasses.replace(
        make_config().addresses, arc_contacts=arc_contacts))


@pytest.mark.parametrize(("arc_contacts", "calfields", "copied"), [
    (("@eso.org",), (), False),  # proprietary data, the contact only at a listed domain
    (("@eso.org", "EKarrstrom@eso.org"), (), True),  # listed by address: pastes it
    (("@eso.org",), ("J0510+1800",), True),  # calibrator data is public
], ids=["domain only", "listed", "calibrators"])
def test_the_link_reaches_the_arc_contact_only_when_listed_or_public(
        arc_contacts: tuple[str, ...], calfields: tuple[str, ...], copied: bool) -> None:
    config = contacts_config(*arc_contacts)
    mail = render_completion(*inputs(config), make_request(calfields=calfields), ok_result(),
                             key="request:12", queued_at=QUEUED_AT)
    assert ("ekarrstrom@eso.org" in mail.rcpt_to) is copied
    assert mail.rcpt_to[0] == "judits@phys.ethz.ch"
    assert {"dpetry@eso.org", "aog@eso.org"} <= set(mail.rcpt_to)


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_forty_outside_ccs_get_no_reply(kind: str) -> None:
    """The reflector of issue 10: 40 outside Cc and an outside Reply-To."""
    strangers = tuple(f"victim{i}@example.net" for i in range(40))
    origin = mail_origin(reply_to=("phish@example.net",), to=("aog@eso.org", *strangers[:5]),
                         cc=strangers[5:])
    mail = RENDERERS[kind](make_config(), origin)
    assert mail.rcpt_to == ("ekarrstrom@eso.org",)
    assert recipients(mail) == (["ekarrstrom@eso.org"], [])


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_staff_recipients_are_capped_and_the_sender_kept(kind: str) -> None:
    staff = tuple(f"arc{i}@eso.org" for i in range(30))
    config = make_config(max_recipients=4)
    mail = RENDERERS[kind](config, mail_origin(reply_to=staff[:10], cc=staff[10:]))
    to, cc = recipients(mail)
    assert to == list(staff[:3]) and cc == ["ekarrstrom@eso.org"]
    assert len(mail.rcpt_to) == 4


def test_the_notice_goes_to_aog_alone() -> None:
    mail = CASES["notice"]()
    msg = parse(mail.data)
    assert mail.kind == "notice" and mail.rcpt_to == ("aog@eso.org",)
    assert msg["To"] == "aog@eso.org" and msg["Auto-Submitted"] == "auto-generated"
    assert mail.subject == "mailbot: requests from runaway@eso.org kept for AOG"
    assert "more than 30 requests from runaway@eso.org in 24 h" in text_of(msg)
    # Its Message-ID is made of the sender and the day: one notice a day is queued.
    again = render_notice(*inputs(), "runaway@eso.org", "other words",
                          key="notice:runaway@eso.org:2019-09-27", queued_at=QUEUED_AT)
    assert again.message_id == mail.message_id


def test_completion_takes_retention_and_signature_from_config() -> None:
    config = make_config(retention_days=14, signature="Mit freundlichen Grüßen\nAOG")
    result = StagingResult(ok=True, url=URL, deletion_date=None, exit_status=0)
    mail = render_completion(*inputs(config), make_request(), result, key="r", queued_at=QUEUED_AT)
    body = text_of(parse(mail.data))
    # stagecalms named no date: 14 days from the staging's end, when the mail is composed
    assert "It will be deleted on 2019-10-11.\n" in body
    assert body.endswith("\n\nMit freundlichen Grüßen\nAOG\n")


@pytest.mark.parametrize(
    "result",
    [
        StagingResult(ok=False, url=URL, deletion_date=None, exit_status=1),
        StagingResult(ok=True, url=None, deletion_date=None, exit_status=0),
        StagingResult(ok=True, url="", deletion_date=None, exit_status=0),
    ],
)
def test_completion_refuses_without_success_and_url(result: StagingResult) -> None:
    with pytest.raises(ValueError):
        render_completion(*inputs(), make_request(), result, key="r", queued_at=QUEUED_AT)


# --- failure ----------------------------------------------------------------------------


def test_failure_carries_the_entire_output() -> None:
    output = "".join(f"line {i} of the staging log\n" for i in range(20_000)) + FAILURE_OUTPUT
    mail = failure_mail(make_request(), output, "job:7:attempt:1")
    msg = parse(mail.data)
    body = text_of(msg)
    assert output in body  # never truncated, the 1500-char line included
    assert max(len(line) for line in mail.data.split(b"\r\n")) <= 998
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"


def test_failure_names_everything_the_maintainer_needs() -> None:
    mail = CASES["failure"]()
    msg = parse(mail.data)
    assert mail.kind == "failure"
    assert mail.subject == (
        "stagecalms failed: 2017.1.00727.S uid___A001_X1296_X675 helpdesk ticket 16140"
    )
    assert [a.addr_spec for a in msg["To"].addresses] == ["dpetry@eso.org"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["aog@eso.org"]
    assert mail.rcpt_to == ("dpetry@eso.org", "aog@eso.org")
    body = text_of(msg)
    for needed in (
        FAILURE_COMMAND,
        "uid___A001_X1296_X675",
        "uid://A001/X1296/X675",
        "2017.1.00727.S",
        "16140",
        "/var/www/html/arcdistribution/preview/cdb386950af8ee148b3a9bc633942c6a",
        "/opsw/work/pipeproc/autopipeline/tmp/WORK23486",
        "  - stagecalms reported Failed\n",
        "  - exit status 1\n",
        "mailbot retry 7",
    ):
        assert needed in body, needed


def test_failure_output_with_odd_characters_is_kept_encodable() -> None:
    output = "progress 10%\rprogress 100%\nbad byte \udcff here\n\x00nul\n"
    mail = failure_mail(make_request(), output, "job:7:attempt:2")
    body = text_of(parse(mail.data))
    assert "progress 10%\nprogress 100%\nbad byte ? here\n\x00nul" in body


# --- identity, dates and templates ----------------------------------------------------


def test_message_id_is_deterministic() -> None:
    settings = make_config().reply_settings
    first = message_id(settings, "verdict", "request:12")
    assert first == message_id(settings, "verdict", "request:12")
    assert first != message_id(settings, "verdict", "request:13")
    assert first != message_id(settings, "completion", "request:12")
    assert re.fullmatch(r"<mailbot\.verdict\.[0-9a-f]{24}@eso\.org>", first)
    other = dataclasses.replace(settings, message_id_domain="mailbot.example.org")
    assert message_id(other, "verdict", "request:12").endswith("@mailbot.example.org>")


def test_rendering_twice_gives_the_same_bytes() -> None:
    for build in CASES.values():
        first, second = build(), build()
        assert first == second
    assert CASES["completion"]().message_id == message_id(
        make_config().reply_settings, "completion", "request:12")


def test_naive_queued_at_is_refused() -> None:
    with pytest.raises(ValueError):
        render_completion(
            *inputs(), make_request(), ok_result(), key="r", queued_at=datetime(2019, 9, 27)
        )


def test_unknown_template_variable_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "verdict_CYCLE_0.txt.j2").write_text("{{ verdict_line }}\n{{ no_such_value }}\n")
    config = make_config(templates_dir=str(tmp_path))
    with pytest.raises(jinja2.UndefinedError):
        render_verdict(
            *inputs(config),
            make_request(),
            Verdict(VerdictCode.CYCLE_0, "cycle0"),
            key="request:1",
            queued_at=QUEUED_AT,
        )


def test_custom_templates_dir_is_used(tmp_path: Path) -> None:
    (tmp_path / "completion.txt.j2").write_text(
        '{%- set subject = "Ihre Daten " ~ ticket -%}\nHier: {{ url }}\n'
    )
    config = make_config(templates_dir=str(tmp_path))
    mail = render_completion(*inputs(config), make_request(), ok_result(), key="r",
                             queued_at=QUEUED_AT)
    assert mail.subject == "Ihre Daten 16140"
    assert text_of(parse(mail.data)) == f"Hier: {URL}\n"


def test_completion_template_without_subject_fails(tmp_path: Path) -> None:
    (tmp_path / "completion.txt.j2").write_text("{{ url }}\n")
    config = make_config(templates_dir=str(tmp_path))
    with pytest.raises(jinja2.TemplateError):
        render_completion(*inputs(config), make_request(), ok_result(), key="r",
                          queued_at=QUEUED_AT)
