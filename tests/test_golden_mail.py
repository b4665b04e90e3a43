"""Golden outgoing mail: the exact bytes and envelope of every kind of mail the bot sends.

Each case renders one mail from fixed inputs (requests and origins with non-ASCII
names and quoted text, a fixed `queued_at`, a fixed journal instance key, fixed
settings) and compares it with tests/golden/mail/<case>.eml (the bytes handed to
SMTP) and <case>.envelope.json (kind, Message-ID, MAIL FROM, RCPT TO, subject).
They pin the behaviour of `mailbot.reply`, its templates and the settings it reads,
so that a refactoring that changes a single byte fails here.

The default run only compares. After a deliberate change of the mail, regenerate
the files with

    MAILBOT_WRITE_GOLDEN=1 .venv/bin/pytest -q -p no:cacheprovider tests/test_golden_mail.py

and review `git diff tests/golden/mail` by eye before committing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot import reply
from mailbot.model import (
    Malformed,
    Origin,
    OutgoingMail,
    Request,
    StagingResult,
    Verdict,
    VerdictCode,
)

GOLDEN = Path(__file__).parent / "golden" / "mail"
WRITE = os.environ.get("MAILBOT_WRITE_GOLDEN") == "1"
QUEUED_AT = datetime(2024, 3, 5, 9, 41, 7, tzinfo=UTC)
# The journal's instance key, as run.py and scheduler.py prefix every mail's key with it.
INSTANCE = "golden-0f3a9c21"
URL = "https://almascience.eso.org/arcdistribution/preview/8672af71dac32e0ad9703dae3438fcac"
REQUEST_TEXT = (
    "Dear AOG,\r\n"
    "please create the calibrated MS for MOUS uid___A001_X1296_X675\r\n"
    "project 2017.1.00727.S\r\n"
    "for user Zoë Ångström-Łukasiewicz\r\n"
    "email zoe.angstrom@phys.ethz.ch\r\n"
    "helpdesk ticket 16140\r\n"
    "\r\n"
    "Grüße,\r\n"
    "Elisabeth\r\n"
    "\r\n"
    "> On Mon, 2 Sep 2019, Zoë wrote:\r\n"
    "> could I have the calibrated data of this MOUS?\r\n"
    ">\r\n"
    "> Merci beaucoup — Zoë\r\n"
)
# Settings different from the embedded defaults wherever reply reads one, so that a
# setting that stops reaching the mail changes the bytes.
VERDICT_LINES = {"NOT_ENTITLED": "NOT ENTITLED – PROPRIETARY DATA", "DUPLICATE": "DUPLICATE"}


def golden_config(data_dir: Path | None = None, templates_dir: str = "") -> cfg.Config:
    """Fixed settings; `templates_dir` may name a `{data_dir}` path."""
    general = cfg.General(data_dir=str(data_dir)) if data_dir else cfg.General()
    return cfg.Config(
        mailbot=general,
        addresses=cfg.Addresses(
            aog="aog@eso.org",
            aog_name="ALMA Archive Operations (Garching, Bäume)",
            maintainer="dpetry@eso.org",
            no_reply="no_reply_eu_data_delivery@eso.org",
            own=["AOG-Alias@eso.org"],
            message_id_domain="mailbot.eso.org",
        ),
        replies=cfg.Replies(
            templates_dir=templates_dir,
            retention_days=21,
            quote_max_bytes=420,
            signature="Mit freundlichen Grüßen,\n\nThe ESO ALMA Team",
            loop_header="X-ALMA-Mailbot",
        ),
        verdicts={**cfg.Config().verdicts, **VERDICT_LINES},
    )


def sample_config() -> cfg.Config:
    """The shipped sample settings file: the defaults as a user first sees them."""
    return cfg.load(cfg.PACKAGE_DIR / "sample-config.toml")


def mail_origin(**changes: object) -> Origin:
    origin = Origin(
        channel="mail",
        sender="ekarrstrom@eso.org",
        sender_name="Elisabeth Kärrström",
        to=("ALMA Archive Operations <aog@eso.org>",),
        cc=("EKarrstrom@eso.org", '"Petry, Dirk" <dpetry@eso.org>', "aog-alias@ESO.org"),
        subject="RE: Aw: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675 – Zoë",
        message_id="<20190902140027.4711@arc.eso.org>",
        references=("<thread-start@arc.eso.org>", "<20190901.1@arc.eso.org>"),
        date=datetime(2019, 9, 2, 14, 0, 27, tzinfo=timezone(timedelta(hours=2))),
        text=REQUEST_TEXT,
    )
    return replace(origin, **changes)  # type: ignore[arg-type]


def trigger_origin() -> Origin:
    return Origin(
        channel="trigger",
        sender="evkampe@eso.org",
        cc=("dpetry@eso.org",),
        subject="ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675",
        text="please create the calibrated MS for MOUS uid___A001_X1296_X675\n",
    )


def make_request(origin: Origin | None = None, **changes: object) -> Request:
    origin = origin or mail_origin()
    request = Request(
        mous="uid://A001/X1296/X675",
        project="2017.1.00727.S",
        calfields=(),
        user_name="Zoë Ångström-Łukasiewicz",
        user_email="zoe.angstrom@phys.ethz.ch",
        ticket="16140",
        arc_contact="ekarrstrom@eso.org",
        cc=("dpetry@eso.org",),
        message_id=origin.message_id,
        received=datetime(2019, 9, 2, 12, 0, 27, tzinfo=UTC),
        origin=origin,
    )
    return replace(request, **changes)  # type: ignore[arg-type]


CALIBRATORS = ("J0510+1800", "J0321+1234")


# --- the calls the bot makes (run.py, scheduler.py) ----------------------------------


def verdict(config: cfg.Config, request: Request, code: VerdictCode,
            detail: dict[str, str] | None = None, request_id: int = 12) -> OutgoingMail:
    found = Verdict(code=code, check=code.value.lower(), detail=detail or {})
    return reply.render_verdict(config.reply_settings, config.templates, request, found,
                                key=f"{INSTANCE}:request:{request_id}", queued_at=QUEUED_AT)


def malformed(config: cfg.Config, problems: tuple[str, ...], origin: Origin) -> OutgoingMail:
    return reply.render_malformed(config.reply_settings, config.templates,
                                  Malformed(problems=problems, origin=origin),
                                  key=f"{INSTANCE}:maildir:1709631667.M1P2.host",
                                  queued_at=QUEUED_AT)


def completion(config: cfg.Config, request: Request, result: StagingResult) -> OutgoingMail:
    return reply.render_completion(config.reply_settings, config.templates, request, result,
                                   key=f"{INSTANCE}:request:12", queued_at=QUEUED_AT)


def failure(config: cfg.Config, request: Request, result: StagingResult,
            output: str) -> OutgoingMail:
    command = f"stagecalms.sh {request.project} {request.mous} {request.ticket}"
    if request.calfields:
        command += " X " + ",".join(request.calfields)
    return reply.render_failure(config.reply_settings, config.templates, request,
                                command=command, output=output, result=result,
                                job_name="7", key=f"{INSTANCE}:job:7:attempt:2",
                                queued_at=QUEUED_AT)


# --- fixed staging results -------------------------------------------------------------


def ok_result(**changes: object) -> StagingResult:
    result = StagingResult(ok=True, url=URL, deletion_date="2024-04-02",
                           exit_status=0)
    return replace(result, **changes)  # type: ignore[arg-type]


REUSED = StagingResult(
    ok=True, url=URL, deletion_date=None, exit_status=0,
    ebs=("uid___A002_Xc02418_X1c1", "uid___A002_Xc04da7_X2b63"),
    reused=("uid___A002_Xc02418_X1c1.ms", "uid___A002_Xc04da7_X2b63.ms"),
    total_bytes=123_456_789_012,
    notices=("calfield J0510+1800 found in 2 EBs",),
)
FAILED = StagingResult(
    ok=False, url=None, deletion_date=None, exit_status=1,
    problems=("stagecalms reported Failed", "exit status 1"),
    failed_dir="/var/www/html/arcdistribution/preview/cdb386950af8ee148b3a9bc633942c6a",
    workdir="/opsw/work/pipeproc/autopipeline/tmp/WORK23486",
)
FAILURE_OUTPUT = (
    "The staging directory will be accessible at https://almascience.eso.org/arcdistribution"
    "/preview/cdb386950af8ee148b3a9bc633942c6a\r\n"
    "Looking for cluster node with low load ...\r\n"
    "DATAMACHINE chosen: arcp14\n"
    "rsync: " + "ü" * 700 + "\n"
    "Failed. Please investigate  /var/www/html/arcdistribution/preview/"
    "cdb386950af8ee148b3a9bc633942c6a\n"
)
CUSTOM_TEMPLATE = (
    "{{ verdict_line }}\nEigene Vorlage für {{ mous_file }}.\n\n{{ attribution }}\n{{ quoted }}\n"
)


def custom_templates(tmp_path: Path) -> OutgoingMail:
    """A `{data_dir}`-relative templates_dir, as a site with its own wording sets it."""
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "verdict_CYCLE_0.txt.j2").write_text(CUSTOM_TEMPLATE, encoding="utf-8")
    config = golden_config(tmp_path, "{data_dir}/own")
    return verdict(config, make_request(project="2011.0.00099.S"), VerdictCode.CYCLE_0)


Case = Callable[[Path], OutgoingMail]
G = golden_config
CASES: dict[str, Case] = {
    "verdict_CYCLE_0": lambda _: verdict(G(), make_request(project="2011.0.00099.S"),
                                         VerdictCode.CYCLE_0),
    "verdict_INVALID_MOUS": lambda _: verdict(G(), make_request(), VerdictCode.INVALID_MOUS),
    "verdict_PROJECT_MISMATCH": lambda _: verdict(
        G(), make_request(), VerdictCode.PROJECT_MISMATCH,
        {"archive_project": "2018.1.01406.S", "request_project": "2017.1.00727.S"}),
    "verdict_NO_QA0_PASS": lambda _: verdict(G(), make_request(), VerdictCode.NO_QA0_PASS),
    "verdict_UNKNOWN_CALFIELD": lambda _: verdict(
        G(), make_request(calfields=(*CALIBRATORS, "NGC 1068")), VerdictCode.UNKNOWN_CALFIELD,
        {"fields": "J0321+1234, NGC 1068"}),
    "verdict_UNKNOWN_CALFIELD_one": lambda _: verdict(
        G(), make_request(calfields=CALIBRATORS), VerdictCode.UNKNOWN_CALFIELD,
        {"fields": "J0321+1234"}),
    "verdict_NOT_ENTITLED": lambda _: verdict(
        G(), make_request(), VerdictCode.NOT_ENTITLED, {"release_date": "2025-01-31"}),
    "verdict_NOT_ENTITLED_targets": lambda _: verdict(
        G(), make_request(calfields=CALIBRATORS), VerdictCode.NOT_ENTITLED,
        {"targets": "J0321+1234"}),
    "verdict_NOT_DELIVERED": lambda _: verdict(
        G(), make_request(), VerdictCode.NOT_DELIVERED, {"state": "QA3InProgress"}),
    "verdict_NOT_DELIVERED_unknown": lambda _: verdict(
        G(), make_request(), VerdictCode.NOT_DELIVERED),
    "verdict_DUPLICATE": lambda _: verdict(G(), make_request(), VerdictCode.DUPLICATE),
    "verdict_reply_to": lambda _: verdict(
        G(), make_request(mail_origin(reply_to=("ARC Helpdesk <helpdesk@eso.org>",))),
        VerdictCode.NO_QA0_PASS),
    "verdict_trigger": lambda _: verdict(
        G(), make_request(trigger_origin(), arc_contact="evkampe@eso.org"),
        VerdictCode.NOT_ENTITLED, request_id=13),
    "verdict_sample_config": lambda _: verdict(
        sample_config(), make_request(), VerdictCode.NOT_ENTITLED),
    "verdict_custom_templates": custom_templates,
    "malformed": lambda _: malformed(
        G(), ("no helpdesk ticket line", "project 2017.1.727.S is not a project code – prüfen"),
        mail_origin(text=REQUEST_TEXT * 3)),
    # A mail without Date (the demo's malformed sample): dated by its receipt all the same.
    "malformed_undated": lambda _: malformed(
        G(), ("no MOUS line",), mail_origin(date=None)),
    "malformed_sample_config": lambda _: malformed(
        sample_config(), ("no MOUS line",), mail_origin(subject="")),
    "completion": lambda _: completion(G(), make_request(), ok_result()),
    "completion_calibrators_reused": lambda _: completion(
        G(), make_request(calfields=CALIBRATORS), REUSED),
    "completion_trigger": lambda _: completion(
        G(),
        make_request(trigger_origin(), user_name="Zoe Angstrom", arc_contact="evkampe@eso.org"),
        ok_result(deletion_date=None)),
    "completion_sample_config": lambda _: completion(sample_config(), make_request(), ok_result()),
    "failure": lambda _: failure(G(), make_request(), FAILED, FAILURE_OUTPUT),
    "failure_calibrators_unknown": lambda _: failure(
        G(), make_request(calfields=CALIBRATORS),
        replace(FAILED, exit_status=None, problems=(), failed_dir=None, workdir=None), ""),
    "notice": lambda _: reply.render_notice(
        G().reply_settings, G().templates, "ekarrstrom@eso.org",
        "more than 20 requests from ekarrstrom@eso.org in one run (limits.requests_per_run)",
        key=f"{INSTANCE}:notice:ekarrstrom@eso.org:2024-03-05", queued_at=QUEUED_AT),
}


def envelope(mail: OutgoingMail) -> dict[str, object]:
    return {"kind": mail.kind, "message_id": mail.message_id, "mail_from": mail.mail_from,
            "rcpt_to": list(mail.rcpt_to), "subject": mail.subject}


@pytest.mark.parametrize("case", sorted(CASES))
def test_mail_is_byte_for_byte_the_golden_one(case: str, tmp_path: Path) -> None:
    mail = CASES[case](tmp_path)
    eml, env = GOLDEN / f"{case}.eml", GOLDEN / f"{case}.envelope.json"
    if WRITE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        eml.write_bytes(mail.data)
        env.write_text(json.dumps(envelope(mail), ensure_ascii=False, indent=2) + "\n",
                       encoding="utf-8")
    assert mail.data == eml.read_bytes()
    assert envelope(mail) == json.loads(env.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_golden_mail_reads_back_as_what_was_set(case: str) -> None:
    """Subject, addresses and nothing else, exactly (the stdlib's folding read the subject
    "... X675 – Zoë" back as "... X675  –Zoë": issue 10)."""
    msg = message_from_bytes((GOLDEN / f"{case}.eml").read_bytes(), policy=policy.default)
    env = json.loads((GOLDEN / f"{case}.envelope.json").read_text(encoding="utf-8"))
    assert str(msg["Subject"]) == env["subject"]
    named = {a.addr_spec.lower() for h in ("To", "Cc") if msg[h] for a in msg[h].addresses}
    assert named <= {r.lower() for r in env["rcpt_to"]}
    assert len(msg.keys()) == len(set(msg.keys())), "a header twice"


def test_every_golden_file_has_a_case() -> None:
    """A case removed from CASES leaves no golden file that nothing checks."""
    names = {p.name.split(".")[0] for p in GOLDEN.iterdir()}
    assert names == set(CASES)


def test_every_template_kind_has_a_golden_case() -> None:
    shipped = {f"verdict_{c.value}" for c in VerdictCode if c is not VerdictCode.STAGE}
    assert shipped | {"malformed", "completion", "failure", "notice"} <= set(CASES)
