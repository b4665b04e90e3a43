"""`mailbot check` through the real CLI: classification, verdicts and replies, nothing recorded.

Every call runs `python -m mailbot ... check` in a subprocess. `MAILBOT_HOME`
points at an empty directory, so the embedded setup has no archive and no
journal unless a test brings them: that directory must still be empty after
each call (no journal, no outbox, no log written).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from datetime import date, timedelta
from email import message_from_bytes
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.archive.demo import DemoCase
from mailbot.demo import prepare, request_mail
from mailbot.model import VerdictCode
from mailbot.run import run_once

TESTS = Path(__file__).parent
EMAILS = TESTS / "emails"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads(
    (EMAILS / "expected.toml").read_text(encoding="utf-8")
)
CORPUS = sorted(EMAILS / name for name in EXPECTED)
KEYS = ["file", "kind", "request", "problems", "reason", "verdict", "step"]
REQUEST_KEYS = ["mous", "project", "calfields", "user_name", "user_email", "ticket"]
KIND = {"request": "request", "malformed": "malformed", "not_a_request": "ignored"}
CONFIG = cfg.Config()
MALFORMED = CONFIG.verdict_line("MALFORMED")
STAGE = "STAGE"
PUBLIC = next(c for c in demo_archive.DEMO_CASES if c.name == "public since its release date")
RELEASE_DAY = next(m.release for m in demo_archive.MOUSES if m.uid == PUBLIC.mous)


# The ARC staff who send the corpus's requests, as a deployment lists them.
ARC_NODES = ["@eso.org", "@asu.cas.cz", "@phys.ethz.ch", "@dias.ie", "@mpifr-bonn.mpg.de",
             "@iram.fr", "@chalmers.se", "@camk.edu.pl", "ana.silva.arc@gmail.com",
             "arc.contact@example.org"]
TRUSTING: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def trusting(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Settings that trust the corpus's ARC staff, used by every call with an archive."""
    path = tmp_path_factory.mktemp("settings") / "mailbot.toml"
    path.write_text(f"[addresses]\narc_contacts = {json.dumps(ARC_NODES)}\n", encoding="utf-8")
    TRUSTING[:] = [path]


def trusted(path: Path, contacts: Sequence[str] = ("@eso.org",)) -> bool:
    """Whether these ARC contacts (default: the embedded ones) include a file's sender."""
    if path.suffix == ".txt":
        return True  # trigger files name an eso.org ARC contact
    [(_, sender)] = getaddresses([str(message_from_bytes(path.read_bytes()).get("From"))])
    return any(sender.lower() == c or (c[0] == "@" and sender.lower().endswith(c))
               for c in contacts)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty embedded setup: no archive, no journal."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`--archive` URL of a seeded demo archive."""
    path = tmp_path_factory.mktemp("archive") / "alma.sqlite"
    demo_archive.seed(path)
    return f"sqlite:///{path}"


def mailbot(home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}
    env["MAILBOT_HOME"] = str(home)
    if "--archive" in args:
        args = ("--config", *TRUSTING, *args)
    return subprocess.run([sys.executable, "-m", "mailbot", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def records(stdout: str) -> list[dict[str, Any]]:
    """One JSON object per line, each with exactly the documented keys, in order."""
    lines = stdout.splitlines()
    parsed = [json.loads(line) for line in lines]
    for record in parsed:
        assert list(record) == KEYS, record
        if record["request"] is not None:
            assert list(record["request"]) == REQUEST_KEYS, record
    return parsed


def verdict_line(code: VerdictCode) -> str:
    return STAGE if code is VerdictCode.STAGE else CONFIG.verdict_line(code.value)


def write_requests(directory: Path, cases: list[DemoCase]) -> list[Path]:
    directory.mkdir(exist_ok=True)
    files = []
    for n, case in enumerate(cases):
        path = directory / f"case-{n:02d}.eml"
        path.write_bytes(request_mail(case, aog=CONFIG.addresses.aog,
                                      maintainer=CONFIG.addresses.maintainer,
                                      style="typed" if n % 2 else "script"))
        files.append(path)
    return files


# --- --json on the corpus -----------------------------------------------------------------


def test_json_classifies_the_corpus_as_the_grammar_table_says(home: Path) -> None:
    done = mailbot(home, "check", *CORPUS, "--json")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    got = records(done.stdout)
    assert [r["file"] for r in got] == [str(p) for p in CORPUS]
    untrusted = 0
    for record in got:
        expected = EXPECTED[Path(record["file"]).name]
        assert record["kind"] == KIND[expected["kind"]], record
        if record["kind"] != "ignored" and not trusted(Path(record["file"])):
            # The run keeps such mail for AOG and answers nothing: so does the preview.
            assert record["step"] == "trusted_sender", record
            assert "is not an ARC contact" in record["reason"]
            assert record["verdict"] is None
            untrusted += 1
        elif record["kind"] == "request":
            assert record["request"] == {k: expected[k] for k in REQUEST_KEYS}, record
            assert (record["problems"], record["reason"]) == ([], None)
            assert record["verdict"] is None, "no archive configured: no verdict"
        elif record["kind"] == "malformed":
            assert record["request"] is None and record["reason"] is None
            assert len(record["problems"]) == len(expected["problems"]), record
            for wanted in expected["problems"]:
                assert any(wanted in problem for problem in record["problems"]), wanted
            assert record["verdict"] == MALFORMED, "answered without asking the archive"
        else:
            assert record["request"] is None and record["problems"] == []
            assert expected["reason"].lower() in record["reason"].lower()
            assert record["verdict"] is None
    assert untrusted >= 5
    assert list(home.iterdir()) == [], "check records nothing"


def test_json_with_an_archive_gives_the_verdicts(home: Path, archive: str) -> None:
    done = mailbot(home, "check", *CORPUS, "--json", "--archive", archive)

    assert done.returncode == 0, done.stderr
    got = {Path(r["file"]).name: r for r in records(done.stdout)}
    assert set(got) == set(EXPECTED)
    lines = {verdict_line(code) for code in VerdictCode}
    for name, record in got.items():
        kind = EXPECTED[name]["kind"]
        assert record["kind"] == KIND[kind]
        if kind != "not_a_request" and not trusted(EMAILS / name, ARC_NODES):
            assert (record["step"], record["verdict"]) == ("trusted_sender", None), record
        elif kind == "request":
            assert record["verdict"] in lines, record
        elif kind == "malformed":
            assert record["verdict"] == MALFORMED
        else:
            assert record["verdict"] is None
    # The corpus's user is not the demo PI of 2017.1.00727.S; calibrators are public.
    assert got["script-plain.eml"]["verdict"] == verdict_line(VerdictCode.NOT_ENTITLED)
    trigger = got["trigger-uid___A001_X1296_X675-2019-09-02T14-00-27.txt"]
    assert trigger["request"]["calfields"] == ["J0510+1800", "J0321+1234"]
    assert trigger["verdict"] == STAGE
    assert list(home.iterdir()) == []


def test_demo_requests_get_their_verdicts_and_alternative_queries_agree(
    home: Path, archive: str, tmp_path: Path
) -> None:
    # Nothing is active without a journal, so a repeated request is not a duplicate here.
    cases = [c for c in demo_archive.DEMO_CASES if c.expected is not VerdictCode.DUPLICATE]
    files = write_requests(tmp_path / "mails", cases)

    shipped = mailbot(home, "check", *files, "--json", "--archive", archive, "--today",
                      "2024-05-01")
    alternative = mailbot(home, "check", *files, "--json", "--archive", archive, "--today",
                          "2024-05-01", "--queries", TESTS / "queries_alt")

    assert shipped.returncode == 0, shipped.stderr
    assert alternative.returncode == 0, alternative.stderr
    got = [r["verdict"] for r in records(shipped.stdout)]
    assert got == [verdict_line(c.expected) for c in cases]
    assert records(alternative.stdout) == records(shipped.stdout)
    assert list(home.iterdir()) == []
    # --queries is really read: a directory without AOG's files is a configuration error.
    empty = tmp_path / "no-queries"
    empty.mkdir()
    done = mailbot(home, "check", *files, "--json", "--archive", archive, "--queries", empty)
    assert done.returncode == 78 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"mailbot: archive query {empty}/entitlement.sql: No such file or directory"]


# --- --today: the day of the request ------------------------------------------------------


def test_today_decides_whether_released_data_is_public(
    home: Path, archive: str, tmp_path: Path
) -> None:
    assert RELEASE_DAY is not None and RELEASE_DAY != "proprietary"
    [mail] = write_requests(tmp_path / "mails", [PUBLIC])
    day_before = (date.fromisoformat(RELEASE_DAY) - timedelta(days=1)).isoformat()

    before = mailbot(home, "check", mail, "--json", "--archive", archive, "--today", day_before)
    on_the_day = mailbot(home, "check", mail, "--json", "--archive", archive,
                         "--today", RELEASE_DAY)
    text = mailbot(home, "check", mail, "--archive", archive, "--today", day_before)

    assert [r["verdict"] for r in records(before.stdout)] == [
        verdict_line(VerdictCode.NOT_ENTITLED)]
    assert [r["verdict"] for r in records(on_the_day.stdout)] == [STAGE]
    # The reply names the day it judged.
    assert f"on {day_before}, the day of the request" in text.stdout.replace("\n  ", " ")


def test_a_bad_today_is_one_line_and_exit_2(home: Path, archive: str) -> None:
    done = mailbot(home, "check", CORPUS[0], "--archive", archive, "--today", "01/05/2024")

    assert done.returncode == 2  # a usage error, as the README says
    assert done.stderr.splitlines() == ["mailbot: --today must be YYYY-MM-DD, not '01/05/2024'"]
    assert done.stdout == ""


# --- unreadable files ---------------------------------------------------------------------


def test_an_unreadable_file_exits_2_and_the_others_are_still_reported(
    home: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-mail.eml"
    first, last = EMAILS / "script-plain.eml", EMAILS / "out-of-office.eml"

    done = mailbot(home, "check", first, missing, tmp_path, last, "--json")

    assert done.returncode == 2
    assert [r["file"] for r in records(done.stdout)] == [str(first), str(last)]
    assert done.stderr.splitlines() == [
        f"mailbot: cannot read {missing}: No such file or directory",
        f"mailbot: cannot read {tmp_path}: Is a directory",
    ]


def test_a_file_the_bot_fails_on_is_one_line_and_the_others_are_reported(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whatever the fault: one line on stderr, exit 2, never a traceback (issue 10)."""
    from mailbot import check

    first, last = EMAILS / "script-plain.eml", EMAILS / "out-of-office.eml"
    poison = tmp_path / "poison.eml"
    poison.write_bytes(first.read_bytes())
    real_parse = check.parse

    def parse(incoming: Any, config: cfg.Config) -> Any:
        if incoming.key == poison.name:
            raise ValueError("embedded null character\x1b[31m")
        return real_parse(incoming, config)

    monkeypatch.setattr(check, "parse", parse)
    monkeypatch.setenv("MAILBOT_HOME", str(home))
    status = check.check_files(cfg.Config(), [str(first), str(poison), str(last)], as_json=True)
    out, err = capsys.readouterr()
    assert status == 2
    assert [r["file"] for r in records(out)] == [str(first), str(last)]
    assert err.splitlines() == [f"mailbot: {poison}: the bot fails on this file (a run would "
                                "shunt it): embedded null character [31m"]


def test_hostile_files_are_checked_and_shown_without_controls(home: Path,
                                                             tmp_path: Path) -> None:
    """A NUL charset crashed `check` before; text of anyone's mail never reaches the terminal
    as control sequences."""
    raw = (EMAILS / "script-plain.eml").read_bytes()
    nul = tmp_path / "nul-charset.eml"
    nul.write_bytes(raw.replace(b"Subject:", b'Content-Type: text/plain; charset="utf\x00-8"\n'
                                b"Subject:", 1) + "Grüße\n".encode("latin-1"))
    escape = tmp_path / "escape.eml"
    escape.write_bytes(raw.replace(b"Subject:", b"Subject: \x1b]0;pwned\x07 \x1b[2J", 1)
                       + b"\n\x1b[31mred\x1b[0m\n")
    done = mailbot(home, "check", nul, escape)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("== ") == 2 and "\x1b" not in done.stdout
    assert done.stderr == ""


# --- the text report ----------------------------------------------------------------------


def test_text_shows_classification_verdict_and_the_decoded_reply(
    home: Path, archive: str
) -> None:
    # A quoted-printable UTF-8 request: the reply quotes it, and must read decoded.
    names = ["apple-qp-soft-breaks.eml", "bad-project.eml", "out-of-office.eml",
             "trigger-uid___A001_X1296_X675-2019-09-02T14-00-27.txt"]

    done = mailbot(home, "check", *(EMAILS / n for n in names), "--archive", archive,
                   "--today", "2024-05-01")

    assert done.returncode == 0, done.stderr
    reports = dict(_sections(done.stdout))
    assert list(reports) == [str(EMAILS / n) for n in names]
    qp, malformed, ignored, trigger = reports.values()

    assert "request: MOUS uid://A001/X1296/X675 project 2017.1.00727.S ticket 16140" in qp
    assert "user Judit Szulágyi <judits@phys.ethz.ch>" in qp
    assert "verdict: NOT ENTITLED (check: entitlement)" in qp
    assert "  To: Tomas Novak <tnovak@asu.cas.cz>" in qp
    assert "  Subject: Re: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675" in qp
    assert "  NOT ENTITLED\n" in qp and "on 2024-05-01, the day of the request" in qp
    assert "  > for user Judit Szulágyi" in qp and "Tomáš" in qp
    for encoded in ("=C3", "Content-Transfer-Encoding", "Message-ID", "\r"):
        assert encoded not in qp

    assert "malformed request:\n  - project code '2017.1.727.S'" in malformed
    assert f"verdict: {MALFORMED}" in malformed
    assert "  To: evkampe@eso.org" in malformed and f"  {MALFORMED}\n" in malformed

    assert ignored.strip() == "ignored: automatic mail (Auto-Submitted: auto-replied)"

    assert "verdict: STAGE (entitled: calibrator)" in trigger
    assert "staging it would start:" in trigger
    assert ("'2017.1.00727.S' 'uid://A001/X1296/X675' '16140' 'X' 'J0510+1800,J0321+1234'"
            in trigger)
    assert "reply it would send" not in trigger
    assert list(home.iterdir()) == []


def test_text_without_an_archive_says_so(home: Path) -> None:
    done = mailbot(home, "check", EMAILS / "script-plain.eml")

    assert done.returncode == 0, done.stderr
    assert "verdict: (no archive configured)" in done.stdout
    assert "reply it would send" not in done.stdout


def _sections(stdout: str) -> list[tuple[str, str]]:
    sections = []
    for chunk in stdout.split("== ")[1:]:
        name, _, body = chunk.partition("\n")
        sections.append((name, body))
    return sections


# --- a configured setup: the journal is read, never written ------------------------------


def test_check_reads_active_requests_and_changes_nothing(tmp_path: Path) -> None:
    config, labels = prepare(tmp_path / "demo", duration=0.2)
    assert config.source is not None
    maildir = config.path(config.inbox.maildir.path)
    first = next(name for name, label in labels if label == demo_archive.DEMO_CASES[0].name)
    # The first request is now staging (until a later run sees its job end): a repeat
    # of it is a duplicate.
    run_once(config)
    journal = config.path(config.mailbot.journal)
    outbox = config.path(config.outbox.directory)
    before = (_dump(journal), sorted(outbox.iterdir()))

    done = mailbot(tmp_path / "unused-home", "--config", config.source, "check",
                   maildir / "cur" / f"{first}:2,S", "--json")

    assert done.returncode == 0, done.stderr
    [record] = records(done.stdout)
    assert record["verdict"] == verdict_line(VerdictCode.DUPLICATE)
    assert (_dump(journal), sorted(outbox.iterdir())) == before
    assert not (tmp_path / "unused-home").exists()


def _dump(journal: Path) -> list[str]:
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return list(db.iterdump())
    finally:
        db.close()
