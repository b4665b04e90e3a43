"""The request grammar against the fixture corpus (tests/emails) and value tables."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot import reply, textmail
from mailbot.config import Addresses, Config
from mailbot.grammar import parse_message, parse_trigger
from mailbot.model import MOUS_URI, Malformed, NotARequest, Parsed, Request

EMAILS = Path(__file__).parent / "emails"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads(
    (EMAILS / "expected.toml").read_text(encoding="utf-8")
)
CONFIG = Config()
OWN = CONFIG.own_addresses
LOOP = CONFIG.replies.loop_header
RECEIVED = datetime(2019, 9, 2, 12, 5, tzinfo=UTC)


def parse_fixture(name: str) -> Parsed:
    path = EMAILS / name
    if path.suffix == ".txt":
        return parse_trigger(
            path.read_bytes().decode("utf-8"),
            received=RECEIVED,
            file_name=path.name,
            own_addresses=OWN,
        )
    return parse_message(path.read_bytes(), received=RECEIVED, own_addresses=OWN, loop_header=LOOP)


def parse(raw: bytes | str, **kwargs: Any) -> Parsed:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    kwargs.setdefault("own_addresses", OWN)
    return parse_message(data, received=RECEIVED, **kwargs)


REQUEST_BODY = """Dear AOG,
please create the calibrated MS for MOUS uid___A001_X1296_X675
project 2017.1.00727.S
for user Judit Szulagyi
email judits@phys.ethz.ch
helpdesk ticket 16140
"""


def mail(body: str = REQUEST_BODY, *, headers: str = "", subject: str | None = None) -> str:
    subject = (
        "ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675"
        if subject is None
        else subject
    )
    return (
        f"From: Elisabetta van Kampen <evkampe@eso.org>\nTo: aog@eso.org\n"
        f"Subject: {subject}\nMessage-ID: <t-1@eso.org>\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    )


# ---------------------------------------------------------------- the fixture corpus


def test_every_fixture_has_an_expected_result_and_the_corpus_is_large_enough() -> None:
    on_disk = {p.name for p in EMAILS.iterdir() if p.suffix in {".eml", ".txt"}}
    assert on_disk == set(EXPECTED)
    assert len([n for n in on_disk if n.endswith(".eml")]) >= 40
    assert len([n for n in on_disk if n.startswith("trigger-")]) >= 2
    kinds = {entry["kind"] for entry in EXPECTED.values()}
    assert kinds == {"request", "malformed", "not_a_request"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_as_expected(name: str) -> None:
    expected = EXPECTED[name]
    result = parse_fixture(name)
    if expected["kind"] == "request":
        assert isinstance(result, Request), result
        check_request(result, expected)
    elif expected["kind"] == "malformed":
        assert isinstance(result, Malformed), result
        assert len(result.problems) == len(expected["problems"]), result.problems
        for wanted in expected["problems"]:
            assert any(wanted in problem for problem in result.problems), (wanted, result)
    else:
        assert isinstance(result, NotARequest), result
        assert expected["reason"].lower() in result.reason.lower()


def check_request(result: Request, expected: dict[str, Any]) -> None:
    assert result.mous == expected["mous"]
    assert result.project == expected["project"]
    assert result.calfields == tuple(expected["calfields"])
    assert result.user_name == expected["user_name"]
    assert result.user_email == expected["user_email"]
    assert result.ticket == expected["ticket"]
    assert result.arc_contact == expected["arc_contact"]
    assert result.cc == tuple(expected["cc"])
    assert result.message_id == expected.get("message_id")
    assert result.received == RECEIVED
    assert result.origin.subject == expected["subject"]
    assert result.origin.sender == result.arc_contact
    if "sender_name" in expected:
        assert result.origin.sender_name == expected["sender_name"]
    for fragment in expected.get("text_contains", []):
        assert fragment in result.origin.text


# ---------------------------------------------------------------- origin and channels


def test_mail_origin_is_complete() -> None:
    raw = mail(
        headers=(
            "Cc: EvKampe@ESO.org, Dirk Petry <DPetry@eso.org>, AOG <AOG@eso.org>\n"
            "Reply-To: Elisabetta <evk@eso.org>\n"
            "Date: Mon, 02 Sep 2019 14:00:27 +0200\n"
            "In-Reply-To: <a@x>\nReferences: <a@x>\n <b@x>\n"
        )
    )
    result = parse(raw)
    assert isinstance(result, Request)
    origin = result.origin
    assert origin.channel == "mail"
    assert origin.sender == "evkampe@eso.org"
    assert origin.sender_name == "Elisabetta van Kampen"
    assert origin.reply_to == ("evk@eso.org",)
    assert origin.to == ("aog@eso.org",)
    assert origin.cc == ("evkampe@eso.org", "dpetry@eso.org", "aog@eso.org")
    assert result.cc == ("evkampe@eso.org", "dpetry@eso.org")  # own address removed
    assert origin.message_id == "<t-1@eso.org>"
    assert origin.references == ("<a@x>", "<b@x>")
    assert origin.date == datetime(2019, 9, 2, 14, 0, 27, tzinfo=timezone(timedelta(hours=2)))
    assert origin.text.startswith("Dear AOG,\nplease create")


def test_references_fall_back_to_in_reply_to_and_odd_ids_are_kept_only_when_sane() -> None:
    result = parse(
        mail(headers="In-Reply-To: <parent@eso.org>\n").replace(
            "Message-ID: <t-1@eso.org>", "Message-ID: bare-id@eso.org"
        )
    )
    assert isinstance(result, Request)
    assert result.origin.references == ("<parent@eso.org>",)
    assert result.message_id == "<bare-id@eso.org>"
    no_id = parse(mail().replace("Message-ID: <t-1@eso.org>", "Message-ID: not an id"))
    assert isinstance(no_id, Request) and no_id.message_id is None


def test_an_email_message_object_is_accepted() -> None:
    message = BytesParser(policy=policy.default).parsebytes(mail().encode())
    assert isinstance(message, EmailMessage)
    result = parse_message(message, received=RECEIVED)
    assert isinstance(result, Request)
    assert result.mous == "uid://A001/X1296/X675"


def test_built_email_message_with_non_ascii_header_is_read() -> None:
    message = EmailMessage()
    message["From"] = "Jörg Müller <jmueller@mpifr-bonn.mpg.de>"
    message["To"] = "aog@eso.org"
    message["Subject"] = "ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675"
    message.set_content(REQUEST_BODY.replace("Judit Szulagyi", "Jörg Müller"))
    result = parse_message(message, received=RECEIVED)
    assert isinstance(result, Request)
    assert result.origin.sender_name == "Jörg Müller"
    assert result.user_name == "Jörg Müller"


def test_own_addresses_compare_case_insensitively_in_both_directions() -> None:
    raw = mail().replace("evkampe@eso.org", "Robot@ESO.org")
    result = parse(raw, own_addresses=frozenset({"ROBOT@eso.ORG"}))
    assert isinstance(result, NotARequest)
    assert "own address" in result.reason


def test_loop_header_name_comes_from_the_caller() -> None:
    raw = mail(headers="X-Other-Loop: yes\n")
    assert isinstance(parse(raw), Request)
    result = parse(raw, loop_header="X-Other-Loop")
    assert isinstance(result, NotARequest) and "X-Other-Loop" in result.reason


@pytest.mark.parametrize(
    ("header", "automatic"),
    [
        ("Auto-Submitted: no\n", False),
        ("Auto-Submitted: No ; comment\n", False),
        ("Auto-Submitted: auto-generated\n", True),
        ("Auto-Submitted: auto-notified\n", True),
        ("X-Autorespond: yes\n", True),
        ("Precedence: junk\n", True),
        ("Precedence: list\n", True),
        ("Precedence: first-class\n", False),
        ("List-Post: <mailto:x@y.org>\n", True),
        ("Return-Path: < >\n", True),
        ("Return-Path: <evkampe@eso.org>\n", False),
        ("X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\n", False),
        ("Sender: postmaster@eso.org\n", True),
    ],
)
def test_automatic_mail_headers(header: str, automatic: bool) -> None:
    result = parse(mail(headers=header))
    assert isinstance(result, NotARequest) is automatic, result


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675",
        "Out of Office: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675",
        "[SPAM] Undeliverable: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675",
    ],
)
def test_auto_reply_subjects_are_not_requests(subject: str) -> None:
    assert isinstance(parse(mail(subject=subject)), NotARequest)


def test_mail_without_usable_from_is_not_a_request() -> None:
    raw = mail().replace("From: Elisabetta van Kampen <evkampe@eso.org>\n", "")
    result = parse(raw)
    assert isinstance(result, NotARequest) and "From" in result.reason


def test_header_injection_never_reaches_origin_values() -> None:
    result = parse_fixture("injection-header.eml")
    assert isinstance(result, Request)
    for value in (result.origin.subject, result.origin.sender_name):
        assert "\r" not in value and "\n" not in value


# ---------------------------------------------------------------- answers to the bot's mail

BOT_ID = "<mailbot.malformed.0123456789abcdef01234567@eso.org>"


@pytest.mark.parametrize(
    "headers",
    [
        f"In-Reply-To: {BOT_ID}\n",
        f"References: <thread-start@arc.eso.org>\n {BOT_ID}\n",
        f"In-Reply-To: <ticket-7@helpdesk.example.org>\nReferences: {BOT_ID.upper()}\n",
        "In-Reply-To: <mailbot.verdict.abc123@ESO.ORG>\n",
    ],
)
def test_a_mail_answering_the_bots_own_mail_is_not_a_request(headers: str) -> None:
    # Even a complete, valid request: corrections come as fresh mails (spec section 1).
    result = parse(mail(headers=headers))
    assert isinstance(result, NotARequest), result
    assert "reply to the bot's own mail <mailbot." in result.reason.lower()


@pytest.mark.parametrize(
    "headers",
    [
        "In-Reply-To: <20190902120027.4F2C81A0@arcp1.hq.eso.org>\n",  # a forwarded request
        "References: <a@x>\n <b@eso.org>\n",
        "In-Reply-To: <mailbot.verdict.abc123@elsewhere.example.org>\n",  # another bot's id
        "In-Reply-To: <mailbot-verdict-abc123@eso.org>\n",  # not the bot's id shape
        "In-Reply-To: <mailbot.verdict.not-hex@eso.org>\n",
    ],
)
def test_replies_to_other_mail_still_parse(headers: str) -> None:
    result = parse(mail(headers=headers))
    assert isinstance(result, Request), result


def test_own_id_domains_come_from_the_caller_and_default_to_the_own_addresses() -> None:
    raw = mail(headers="In-Reply-To: <mailbot.verdict.abc123@mailbot.example.org>\n")
    assert isinstance(parse(raw), Request)  # eso.org, from the own addresses, is not it
    result = parse(raw, own_id_domains=frozenset({"Mailbot.Example.ORG"}))
    assert isinstance(result, NotARequest), result
    # An explicit domain replaces the derived ones.
    own_domain = mail(headers=f"In-Reply-To: {BOT_ID}\n")
    assert isinstance(parse(own_domain, own_id_domains=frozenset({"mailbot.example.org"})),
                      Request)
    assert isinstance(parse(own_domain, own_addresses=frozenset()), Request)


def test_config_message_id_domain_is_recognised() -> None:
    config = Config(addresses=Addresses(message_id_domain="robot.example.org"))
    sent_id = reply.message_id(config.reply_settings, "verdict", "request:1")
    raw = mail(headers=f"In-Reply-To: {sent_id}\n")
    result = parse(raw, own_id_domains=frozenset({config.message_id_domain}))
    assert isinstance(result, NotARequest) and sent_id in result.reason
    assert isinstance(parse(raw), Request)


def test_a_tag_before_re_still_makes_a_reply_subject() -> None:
    subject = "[Ticket#123] Re: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675"
    result = parse(mail("Thank you, we will tell the user.\n", subject=subject))
    assert isinstance(result, NotARequest), result
    assert "reply to a request" in result.reason
    fresh = parse(mail("Thank you.\n", subject="[Ticket#123] ALMA: REQUEST FOR CALIBRATED DATA"))
    assert isinstance(fresh, Malformed)  # not a reply: the subject alone asks for an answer


@pytest.mark.parametrize(
    "remark",
    ["PROJECT CODE MISMATCH\n", "project 2018.1.01406.S, not 727\nemail me when done\n"],
)
def test_a_remark_above_a_quoted_request_is_not_a_request(remark: str) -> None:
    quoted = "".join(f"> {line}\n" for line in REQUEST_BODY.splitlines())
    result = parse(mail(remark + "\n" + quoted, subject="Re: ALMA: REQUEST FOR CALIBRATED DATA"))
    assert isinstance(result, NotARequest), result
    assert "quotes an earlier request" in result.reason
    # Without the quote, the same lines under a request subject still get an answer.
    assert isinstance(parse(mail(remark, subject="ALMA: REQUEST FOR CALIBRATED DATA")), Malformed)


# ---------------------------------------------------------------- template lines


TEMPLATE_LINES = """please create the calibrated MS for MOUS <e.g. uid___A001_X1296_X675>
project <project code, e.g. 2017.1.00727.S>
calfield <e.g. J0510+1800,J0321+1234; only for calibrator data>
for user <official name of the user>
email <official email of the user>
helpdesk ticket <number>
"""


@pytest.mark.parametrize("subject", [None, "Re: ALMA: REQUEST FOR CALIBRATED DATA", "hello"])
def test_unfilled_template_lines_are_not_a_request(subject: str | None) -> None:
    result = parse(mail("Dear AOG,\n" + TEMPLATE_LINES, subject=subject))
    assert isinstance(result, NotARequest), result
    assert "placeholder" in result.reason


def test_placeholders_left_in_a_filled_request_are_problems() -> None:
    body = REQUEST_BODY.replace("project 2017.1.00727.S", "project <project code>") + (
        "calfield <e.g. J0510+1800,J0321+1234; only for calibrator data>\n"
    )
    result = parse(mail(body))
    assert isinstance(result, Malformed), result
    assert result.problems == (
        "the 'project' line still holds the placeholder '<project code>': "
        "write the value in its place",
        "the 'calfield' line still holds the placeholder "
        "'<e.g. J0510+1800,J0321+1234; only for calibrator data>': "
        "name the fields, or leave the line out for all the data",
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("email <judits@phys.ethz.ch>", "email '<judits@phys.ethz.ch>' is not a valid"),
        ("helpdesk ticket <16140>", "helpdesk ticket '<16140>' is not a ticket number"),
        ("project <2017.1.00727.S>", "project code '<2017.1.00727.S>' is not of the form"),
        ("project <code> 2017.1.00727.S", "project code '<code> 2017.1.00727.S' is not"),
    ],
)
def test_a_bracketed_value_is_checked_like_any_value(line: str, problem: str) -> None:
    key = line.split(" <")[0]
    lines = [line if old.startswith(key) else old for old in REQUEST_BODY.split("\n")]
    result = parse(mail("\n".join(lines)))
    assert isinstance(result, Malformed), result
    assert len(result.problems) == 1 and result.problems[0].startswith(problem), result


def test_the_request_phrase_in_quotes_only_names_the_line() -> None:
    body = "The mail had:\n  - no 'please create the calibrated MS for MOUS' line\n"
    assert isinstance(parse(mail(body, subject="about your mail")), NotARequest)
    filled = REQUEST_BODY.replace("please create", '"please create')
    result = parse(mail(filled))
    assert isinstance(result, Malformed)
    assert "no 'please create the calibrated MS for MOUS' line" in result.problems


# ---------------------------------------------------------------- shapes and grammar


def test_subject_alone_with_fields_in_body_without_request_line_is_malformed() -> None:
    body = REQUEST_BODY.replace(
        "please create the calibrated MS for MOUS uid___A001_X1296_X675\n", ""
    )
    result = parse(mail(body))
    assert isinstance(result, Malformed)
    assert result.problems == ("no 'please create the calibrated MS for MOUS' line",)


def test_body_without_request_subject_is_still_a_request() -> None:
    result = parse(mail(subject="calibrated data please"))
    assert isinstance(result, Request)


def test_a_few_field_words_in_ordinary_mail_are_not_a_request() -> None:
    body = "Hi,\nproject meeting moved to Friday.\nemail me for the agenda.\n"
    result = parse(mail(body, subject="meeting"))
    assert isinstance(result, NotARequest)


def test_three_fields_without_request_line_or_subject_are_malformed() -> None:
    body = "project 2017.1.00727.S\nfor user Judit Szulagyi\nemail judits@phys.ethz.ch\n"
    result = parse(mail(body, subject="calibrated data"))
    assert isinstance(result, Malformed)
    assert "no 'please create the calibrated MS for MOUS' line" in result.problems
    assert "no 'helpdesk ticket' line" in result.problems


def test_every_problem_is_listed_not_only_the_first() -> None:
    body = (
        "please create the calibrated MS for MOUS uid___A001_X1296_X67G\n"
        "project 17.1.00727.S\ncalfield J0510+1800;J0321\nfor user J. 5\n"
        "email judits@\nhelpdesk ticket sixteen\n"
    )
    result = parse(mail(body, subject="ALMA: REQUEST FOR CALIBRATED DATA"))
    assert isinstance(result, Malformed)
    assert len(result.problems) == 6
    assert result.problems[0].startswith("MOUS 'uid___A001_X1296_X67G'")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("project", "the 'project' line has no value"),
        ("project:", "the 'project' line has no value"),
        ("calfield", "the 'calfield' line names no field"),
        ("calfield J0510+1800, J0510+1800", "'J0510+1800' is listed twice"),
        ("email judits@phys.ethz.ch<mailto:other@phys.ethz.ch>", "is not a valid email address"),
    ],
)
def test_value_problems(line: str, problem: str) -> None:
    keyword = line.split()[0].rstrip(":")
    body = "".join(
        line + "\n" if old.startswith(keyword) else old + "\n" for old in REQUEST_BODY.splitlines()
    )
    if keyword == "calfield":
        body = REQUEST_BODY.replace("for user", f"{line}\nfor user")
    result = parse(mail(body))
    assert isinstance(result, Malformed), result
    assert len(result.problems) == 1
    assert problem in result.problems[0]


def test_an_empty_line_beside_a_filled_one_is_still_a_problem() -> None:
    result = parse(mail(REQUEST_BODY + "project:\n"))
    assert isinstance(result, Malformed)
    assert result.problems == ("the 'project' line has no value",)


def test_invisible_characters_are_shown_escaped_in_problems() -> None:
    result = parse(mail(REQUEST_BODY.replace("2017.1.00727.S", "2017.1.00727.S\u200b")))
    assert isinstance(result, Malformed)
    assert "'2017.1.00727.S\\u200b'" in result.problems[0]


@pytest.mark.parametrize(
    "code",
    [
        "2017.1.00727.S",
        "2021.1.01582.S",
        "2019.A.00001.S",
        "2015.1.00001.L",
        "2022.1.00001.CSV",
        "2011.0.00001.S",
    ],
)
def test_project_codes_accepted(code: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("2017.1.00727.S", code)))
    assert isinstance(result, Request) and result.project == code


@pytest.mark.parametrize(
    "code",
    [
        "2017.1.727.S",
        "2017.1.00727",
        "2017.1.00727.s",
        "17.1.00727.S",
        "2017.1.00727.SSSS",
        "2017.a.00727.S",
        "2017.1.00727.S.",
        "2017-1-00727-S",
        "'2017.1.00727.S'",
    ],
)
def test_project_codes_refused(code: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("2017.1.00727.S", code)))
    assert isinstance(result, Malformed)
    assert any("is not of the form YYYY.C.NNNNN.T" in p for p in result.problems)


@pytest.mark.parametrize(
    ("written", "uri"),
    [
        ("uid___A001_X1296_X675", "uid://A001/X1296/X675"),
        ("uid://A001/X1296/X675", "uid://A001/X1296/X675"),
        ("uid___A002_Xd33a12_X15be", "uid://A002/Xd33a12/X15be"),
    ],
)
def test_mous_forms(written: str, uri: str) -> None:
    body = REQUEST_BODY.replace("uid___A001_X1296_X675", written)
    result = parse(mail(body, subject="ALMA: REQUEST FOR CALIBRATED DATA MOUS " + written))
    assert isinstance(result, Request) and result.mous == uri


@pytest.mark.parametrize(
    "written",
    [
        "uid___A01_X1296_X675",
        "uid://A001/X1296",
        "uid___A001_X12G6_X675",
        "uid:/A001/X1296/X675",
        "uid___A001_X1296_X675.",
        "A001/X1296/X675",
        "uid://A001/X1296/X675;id",
    ],
)
def test_mous_refused(written: str) -> None:
    body = REQUEST_BODY.replace("uid___A001_X1296_X675", written)
    result = parse(mail(body, subject="ALMA: REQUEST FOR CALIBRATED DATA"))
    assert isinstance(result, Malformed), result
    assert any("is not a MOUS UID" in p for p in result.problems)


NOT_A_UID = "is not a MOUS UID of the form uid___A001_X1296_X675 or uid://A001/X1296/X675"


@pytest.mark.parametrize(
    ("written", "problems"),
    [
        ("uid___$(touch_x) uid___$(touch_x)", [f"MOUS 'uid___$(touch_x)' {NOT_A_UID}"]),
        ("UID___A001_X1296_X675 UID___A001_X1296_X675",
         [f"MOUS 'UID___A001_X1296_X675' {NOT_A_UID}"]),
        ("uid://A001/X1296/X675`id`, uid://A001/X1296/X675`id`",
         [f"MOUS 'uid://A001/X1296/X675`id`' {NOT_A_UID}"]),
        ("uid___A001_X1296_X675 uid___bad",
         [f"MOUS 'uid___bad' {NOT_A_UID}",
          "two MOUSs in one mail: send one mail per MOUS (uid___A001_X1296_X675, uid___bad)"]),
    ],
)
def test_a_uid_like_token_that_is_no_mous_is_refused_however_often_named(
        written: str, problems: list[str]) -> None:
    body = REQUEST_BODY.replace("uid___A001_X1296_X675", written)
    result = parse(mail(body, subject="ALMA: REQUEST FOR CALIBRATED DATA"))
    assert isinstance(result, Malformed), result
    assert list(result.problems) == problems


# MOUS lines: a few tokens, each built of UID pieces (well-formed or not) or free text,
# named once or repeated between separators, so that a line naming the same UID-like
# token twice is common; and lines of any text at all.
_ON_ONE_LINE = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
_UID_PIECES = st.sampled_from(["uid___", "uid://", "uid:/", "UID___", "A001", "_X1296", "/X1296",
                               "_X675", "/X675", "uid___A001_X1296_X675", "uid://A001/X1296/X675",
                               "uid___A001_X1296_X676", "$(touch_x)", "`id`", "."])
_TOKEN = st.one_of(st.lists(_UID_PIECES, min_size=1, max_size=4).map("".join),
                   st.text(_ON_ONE_LINE, max_size=6))
_SEPARATOR = st.sampled_from([" ", "  ", ", ", ";", " and ", "\t"])


@st.composite
def _mous_lines(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(_TOKEN, min_size=1, max_size=3))
    line = draw(st.sampled_from(tokens))
    for token in draw(st.lists(st.sampled_from(tokens), max_size=3)):
        line += draw(_SEPARATOR) + token
    return line


@given(st.one_of(_mous_lines(), st.text(_ON_ONE_LINE, max_size=60)), st.booleans())
def test_a_request_names_its_mous_in_uri_form_whatever_the_mous_line_says(
        line: str, also_in_subject: bool) -> None:
    subject = "ALMA: REQUEST FOR CALIBRATED DATA" + (f" MOUS {line}" if also_in_subject else "")
    body = REQUEST_BODY.replace("uid___A001_X1296_X675", line)
    result = parse(mail(body, subject=subject))
    assert not isinstance(result, Request) or MOUS_URI.fullmatch(result.mous), result


def test_subject_in_uri_form_matches_body_in_file_form() -> None:
    result = parse(mail(subject="ALMA: REQUEST FOR CALIBRATED DATA MOUS uid://A001/X1296/X675"))
    assert isinstance(result, Request)


@pytest.mark.parametrize(
    "address",
    [
        "judits@phys.ethz.ch",
        "Judit.Szulagyi@Phys.ETHZ.ch",
        "o'brien@dias.ie",
        "a+tag@gmail.com",
        "x_y-z@sub-domain.example.org",
    ],
)
def test_email_accepted_as_written(address: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("judits@phys.ethz.ch", address)))
    assert isinstance(result, Request) and result.user_email == address


@pytest.mark.parametrize(
    "address",
    [
        "judits",
        "judits@",
        "@phys.ethz.ch",
        "judits@phys",
        "a..b@eso.org",
        ".a@eso.org",
        "a@-eso.org",
        "a@eso.o",
        "a b@eso.org",
        "a@eso.org>",
        "a@eso.org;rm",
        '"a"@eso.org',
        "a@eso..org",
    ],
)
def test_email_refused(address: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("judits@phys.ethz.ch", address)))
    assert isinstance(result, Malformed), result
    assert any("is not a valid email address" in p for p in result.problems)


@pytest.mark.parametrize(
    ("written", "names"),
    [
        ("J0510+1800", ("J0510+1800",)),
        ("J0510+1800,J0321+1234", ("J0510+1800", "J0321+1234")),
        ("J0217-0820 , J0238+1636", ("J0217-0820", "J0238+1636")),
        ("3C279,3c454.3,Titan,Callisto", ("3C279", "3c454.3", "Titan", "Callisto")),
        ("J1924-2914_a", ("J1924-2914_a",)),
    ],
)
def test_calfields_accepted_in_order(written: str, names: tuple[str, ...]) -> None:
    body = REQUEST_BODY.replace("for user", f"calfield {written}\nfor user")
    result = parse(mail(body))
    assert isinstance(result, Request) and result.calfields == names
    assert result.calibrator_only


@pytest.mark.parametrize(
    "written",
    [
        "J0510+1800;J0321",
        "J0510 +1800",
        "'Titan'",
        "Titan*",
        "$(id)",
        "J0510+1800,",
        "Ti\\tan",
        '"3C279"',
    ],
)
def test_calfields_refused(written: str) -> None:
    body = REQUEST_BODY.replace("for user", f"calfield {written}\nfor user")
    result = parse(mail(body))
    assert isinstance(result, Malformed), result


@pytest.mark.parametrize(
    "name",
    [
        "Judit Szulagyi",
        "Judit Szulágyi",
        "Sofia Kärrström",
        "Jean-Luc Picard",
        "Seán O'Brien",
        "Aoife O’Sullivan",
        "J. R. R. Tolkien",
        "李小龍",
        "Ἀριστοτέλης",
        "Nguyễn Thị Minh Khai",
    ],
)
def test_user_names_accepted(name: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("Judit Szulagyi", name)))
    assert isinstance(result, Request) and result.user_name == name


@pytest.mark.parametrize(
    "name",
    [
        "Judit2",
        "Judit <judits@x.org>",
        "Robert'); DROP TABLE x;--",
        "$(id)",
        "Judit_Szulagyi",
        "...",
        "- '",
        "x" * 201,
        "Judit; Eve",
    ],
)
def test_user_names_refused(name: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("Judit Szulagyi", name)))
    assert isinstance(result, Malformed), result


def test_user_name_spaces_are_collapsed_and_nfd_is_composed() -> None:
    result = parse(mail(REQUEST_BODY.replace("Judit Szulagyi", "Judit  Szula\u0301gyi")))
    assert isinstance(result, Request) and result.user_name == "Judit Szulágyi"


@pytest.mark.parametrize(
    ("line", "ticket"),
    [
        ("helpdesk ticket 16140", "16140"),
        ("helpdesk ticket #16140", "16140"),
        ("Helpdesk Ticket: # 16140", "16140"),
        ("HELPDESK TICKET:16140", "16140"),
    ],
)
def test_ticket_forms(line: str, ticket: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("helpdesk ticket 16140", line)))
    assert isinstance(result, Request) and result.ticket == ticket


@pytest.mark.parametrize(
    "line",
    [
        "helpdesk ticket 16140.",
        "helpdesk ticket 1614O",
        "helpdesk ticket 16140 16141",
        "helpdesk ticket -1",
        "helpdesk ticket 1234567890123",
    ],
)
def test_ticket_refused(line: str) -> None:
    result = parse(mail(REQUEST_BODY.replace("helpdesk ticket 16140", line)))
    assert isinstance(result, Malformed), result


def test_quoted_lines_are_ignored_even_when_they_disagree() -> None:
    body = REQUEST_BODY + "\n> project 2016.1.00001.S\n>> email eve@example.org\n"
    assert isinstance(parse(mail(body)), Request)


def test_reply_with_fresh_request_lines_above_the_quote_is_a_request() -> None:
    quoted = "".join("> " + line + "\n" for line in REQUEST_BODY.splitlines())
    body = REQUEST_BODY + "\nOn Mon, 2 Sep 2019, AOG wrote:\n" + quoted
    result = parse(
        mail(body, subject="Re: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675")
    )
    assert isinstance(result, Request)


def test_text_below_a_reply_marker_is_ignored() -> None:
    body = "Thanks!\n\n-----Original Message-----\nFrom: evkampe@eso.org\n" + REQUEST_BODY
    result = parse(
        mail(body, subject="RE: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675")
    )
    assert isinstance(result, NotARequest) and "only quotes" in result.reason


def test_reply_marker_hides_a_forward_inside_the_answered_mail() -> None:
    body = (
        "Done.\n\nOn Mon, 2 Sep 2019 at 14:00, Carlo wrote:\n"
        "---------- Forwarded message ---------\n\n" + REQUEST_BODY
    )
    result = parse(
        mail(body, subject="Re: Fwd: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675")
    )
    assert isinstance(result, NotARequest)


# ---------------------------------------------------------------- triggers


TRIGGER = (
    """EU ARC contact evkampe@eso.org
CC email dpetry@eso.org
ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675

"""
    + REQUEST_BODY
)


def test_trigger_origin() -> None:
    result = parse_trigger(
        TRIGGER,
        received=RECEIVED,
        file_name="/triggers/trigger-uid___A001_X1296_X675-2019-09-02T14-00-27.txt",
        own_addresses=OWN,
    )
    assert isinstance(result, Request)
    assert result.arc_contact == "evkampe@eso.org"
    assert result.cc == ("dpetry@eso.org",)
    assert result.message_id is None and result.received == RECEIVED
    origin = result.origin
    assert (origin.channel, origin.sender) == ("trigger", "evkampe@eso.org")
    assert origin.subject == "ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675"
    assert "helpdesk ticket 16140" in origin.text


def test_trigger_without_contact_line_is_malformed() -> None:
    result = parse_trigger(
        TRIGGER.replace("EU ARC contact evkampe@eso.org\n", ""), received=RECEIVED
    )
    assert isinstance(result, Malformed)
    assert result.problems == ("no 'EU ARC contact' line",)


def test_trigger_with_bad_contact_and_cc() -> None:
    text = TRIGGER.replace("evkampe@eso.org", "evkampe").replace("dpetry@eso.org", "dpetry@")
    result = parse_trigger(text, received=RECEIVED)
    assert isinstance(result, Malformed)
    assert len(result.problems) == 2
    assert "EU ARC contact 'evkampe' is not a valid email address" in result.problems


def test_trigger_without_subject_line() -> None:
    text = "EU ARC contact evkampe@eso.org\n" + REQUEST_BODY.replace("Dear AOG,\n", "")
    result = parse_trigger(text, received=RECEIVED)
    assert isinstance(result, Request) and result.origin.subject == ""


def test_random_text_is_not_a_trigger() -> None:
    assert isinstance(parse_trigger("hello\nworld\n", received=RECEIVED), NotARequest)
    assert isinstance(parse_trigger("", received=RECEIVED), NotARequest)


# ---------------------------------------------------------------- text extraction


@pytest.mark.parametrize(
    ("flowed", "delsp", "text"),
    [
        ("a \nb\n", False, "a b"),
        ("a \nb\n", True, "ab"),
        ("> quoted \n> more\nnew\n", False, "> quoted more\nnew"),
        ("-- \nsig\n", False, "-- \nsig"),
        (" From here\n", False, "From here"),
        ("a \n> b\n", False, "a \n> b"),
    ],
)
def test_unflow(flowed: str, delsp: bool, text: str) -> None:
    assert textmail.unflow(flowed, delsp=delsp).rstrip("\n") == text


def test_html_to_text_keeps_blocks_and_quotes_blockquotes() -> None:
    html = (
        "<html><head><title>t</title><style>p{}</style></head><body>"
        "<p>one&nbsp;two</p><div>three<br>four\n  five</div>"
        "<blockquote><p>quoted</p><blockquote>deeper</blockquote></blockquote>"
        "<pre>a\n  b</pre><script>var x;</script></body></html>"
    )
    lines = [line for line in textmail.html_to_text(html).split("\n") if line]
    assert lines == ["one\u00a0two", "three", "four five", "> quoted", ">> deeper", "a", "  b"]


@pytest.mark.parametrize(
    ("data", "declared", "text"),
    [
        ("Kärrström".encode(), "iso-8859-1", "Kärrström"),
        ("Kärrström".encode("latin-1"), "iso-8859-1", "Kärrström"),
        ("O’Brien".encode("cp1252"), "iso-8859-1", "O’Brien"),
        ("Kärrström".encode("latin-1"), None, "Kärrström"),
        ("Kärrström".encode("latin-1"), "no-such-charset", "Kärrström"),
        ("Жуков".encode("koi8-r"), "koi8-r", "Жуков"),
        (b"\x81\x8d", "us-ascii", "\x81\x8d"),
    ],
)
def test_decode_fallback_chain(data: bytes, declared: str | None, text: str) -> None:
    assert textmail.decode_text_bytes(data, declared) == text
