"""The archive adapter on real SQLite files, and oracledb against real loopback sockets."""

from __future__ import annotations

import logging
import re
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from mailbot.archive import (
    SHIPPED_QUERIES,
    Rows,
    SqlArchive,
    load_queries,
    open_archive,
    parse_statement,
)
from mailbot.archive import demo as demo_archive
from mailbot.archive.demo import DEMO_CASES, DemoCase
from mailbot.config import Config
from mailbot.decide import ENTITLING_ROLES, ActiveRequest, decide
from mailbot.errors import ArchiveError, ConfigError
from mailbot.model import Facts, Origin, Request, VerdictCode, mous_file_form
from tests.settings import config_in

TODAY = date(2024, 5, 17)
ALT_QUERIES = Path(__file__).parent / "queries_alt"


def make_config(tmp_path: Path, **archive: Any) -> Config:
    return config_in(tmp_path, archive={"url": "sqlite:///{data_dir}/alma.sqlite",
                                        "retry_seconds": 0.5, "connect_timeout": 0.5, **archive})


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    path = tmp_path / "alma.sqlite"
    demo_archive.seed(path, today=TODAY)
    return path


def request_for(case: DemoCase) -> Request:
    return Request(
        mous=case.mous,
        project=case.project,
        calfields=case.calfields,
        user_name=case.user_name,
        user_email=case.user_email,
        ticket=case.ticket,
        arc_contact="arc@example.org",
        cc=(),
        message_id=f"<{case.ticket}@example.org>",
        received=datetime(2024, 5, 17, 8, 0, tzinfo=UTC),
        origin=Origin(channel="mail", sender="arc@example.org"),
    )


def run_cases(archive: SqlArchive) -> list[VerdictCode]:
    """Decide every demo case in order, as a run would, with STAGE ones becoming active."""
    active: list[ActiveRequest] = []
    codes = []
    for case in DEMO_CASES:
        verdict = decide(request_for(case), archive.facts(case.mous), active, TODAY)
        if verdict.stages:
            active.append(ActiveRequest(case.mous, case.calfields, case.ticket, case.user_email))
        codes.append(verdict.code)
    return codes


# --- the demo cases on the shipped and on an alternative query set -------------------------


@pytest.mark.parametrize("queries", [None, str(ALT_QUERIES)], ids=["shipped", "alternative"])
def test_every_demo_case_gets_its_expected_verdict(
    tmp_path: Path, seeded: Path, queries: str | None
) -> None:
    with open_archive(make_config(tmp_path), queries_dir=queries) as archive:
        codes = run_cases(archive)
    assert [(c.name, code) for c, code in zip(DEMO_CASES, codes, strict=True)] == [
        (c.name, c.expected) for c in DEMO_CASES
    ]


def test_demo_cases_reach_every_verdict() -> None:
    assert {c.expected for c in DEMO_CASES} == set(VerdictCode)
    duplicate = next(c for c in DEMO_CASES if c.expected is VerdictCode.DUPLICATE)
    first = DEMO_CASES.index(duplicate)
    earlier = [c for c in DEMO_CASES[:first] if c.expected is VerdictCode.STAGE]
    assert any(
        (c.mous, c.ticket, c.calfields) == (duplicate.mous, duplicate.ticket, duplicate.calfields)
        for c in earlier
    )


def test_demo_cases_look_like_real_requests() -> None:
    for case in DEMO_CASES:
        assert mous_file_form(case.mous).startswith("uid___A00")
        assert re.fullmatch(r"\d{4}\.[0-9A-Z]\.\d{5}\.[A-Z]{1,3}", case.project)
        assert re.search(r"@example\.(org|net|com)$", case.user_email.strip(), re.I)
        assert case.ticket.isdigit()
    assert any(not c.user_name.isascii() for c in DEMO_CASES)


def _normalised(facts: Facts) -> tuple[object, ...]:
    """What the checks read: who entitles, the project, state, QA0, fields, release day."""
    entitling = {(r.role, r.email.lower()) for r in facts.entitlement
                 if r.role in ENTITLING_ROLES and r.email}
    return (sorted(entitling), sorted({r.project_code for r in facts.entitlement}), facts.state,
            facts.qa0_pass, sorted(facts.fields), facts.release_date)


def test_alternative_queries_give_the_same_facts(tmp_path: Path, seeded: Path) -> None:
    config = make_config(tmp_path)
    mouses = {c.mous for c in DEMO_CASES}
    with open_archive(config) as shipped, open_archive(config, queries_dir=str(ALT_QUERIES)) as alt:
        for mous in sorted(mouses):
            assert _normalised(shipped.facts(mous)) == _normalised(alt.facts(mous)), mous


def test_facts_of_one_mous(tmp_path: Path, seeded: Path) -> None:
    with open_archive(make_config(tmp_path)) as archive:
        facts = archive.facts("uid://A001/X1296/X675")
    assert {(r.role, r.email) for r in facts.entitlement} == {
        ("PI", "judit.szulagyi@example.org"),
        ("DELEGEE", "lina.karrstrom@example.org"),
    }
    assert {r.project_code for r in facts.entitlement} == {"2017.1.00727.S"}
    assert facts.state == "Delivered"
    assert facts.qa0_pass == 2
    assert dict(facts.fields) == {
        "J0510+1800": True,
        "J0431+1731": True,
        "J0321+1234": True,  # a check source: CHECK WVR, no target intent
        "HL_Tau": False,  # TARGET, as the archive spells a science target
    }
    assert {(r.name, r.intents) for r in facts.field_rows} >= {("HL_Tau", "TARGET"),
                                                               ("J0321+1234", "CHECK WVR")}
    assert [r.delivery for r in facts.release_rows] == ["2017.1.00727.S_uid___A001_X1296_X675"]
    assert type(facts.release_date) is date
    assert facts.release_date > TODAY


def test_semipass_is_not_pass(tmp_path: Path, seeded: Path) -> None:
    with open_archive(make_config(tmp_path)) as archive:
        assert archive.facts("uid://A001/X1296/X67b").qa0_pass == 1
        assert archive.facts("uid://A001/X14d7/X168").qa0_pass == 0


def test_explicit_url_overrides_config(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "archive.sqlite"
    demo_archive.seed(other, today=TODAY)
    config = make_config(tmp_path)  # its url names a file that does not exist
    with open_archive(config, url=f"sqlite://{other}") as archive:
        assert archive.facts("uid://A001/X87a/X4c1").release_date == date(2018, 3, 15)
        assert archive.url == f"sqlite://{other}"


def test_archive_is_attached_read_only(tmp_path: Path, seeded: Path) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(SHIPPED_QUERIES, queries)
    (queries / "mous_state.sql").write_text(
        "-- tries to write\nUPDATE alma.obs_unit_set_status SET domain_entity_state = 'Delivered'"
        " WHERE status_entity_id = :mous\n"
    )
    with (
        open_archive(make_config(tmp_path), queries_dir=str(queries)) as archive,
        pytest.raises(ArchiveError, match=r"mous_state\.sql: attempt to write a readonly"),
    ):
        archive.facts("uid://A001/X14d7/X160")
    db = sqlite3.connect(seeded)
    state = db.execute(
        "SELECT domain_entity_state FROM obs_unit_set_status WHERE status_entity_id = ?",
        ("uid://A001/X14d7/X160",),
    ).fetchone()
    db.close()
    assert state == ("QA3InProgress",)


# --- query files ----------------------------------------------------------------------------


def test_query_that_breaks_its_contract_is_a_config_error(tmp_path: Path, seeded: Path) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(SHIPPED_QUERIES, queries)
    (queries / "fields.sql").write_text(
        "SELECT source_name AS name FROM alma.asa_science WHERE member_ouss_id = :mous"
    )
    with (
        open_archive(make_config(tmp_path), queries_dir=str(queries)) as archive,
        pytest.raises(ConfigError, match=r"fields\.sql returns \(name\).*field_name"),
    ):
        archive.facts("uid://A001/X1296/X675")


def test_missing_query_file_and_unknown_bind(tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(SHIPPED_QUERIES, queries)
    (queries / "release.sql").unlink()
    with pytest.raises(ConfigError, match=r"release\.sql"):
        load_queries(queries)
    (queries / "release.sql").write_text(
        "SELECT release_date FROM alma.dp_delivery_status WHERE delivery_id = :delivery"
    )
    with pytest.raises(ConfigError, match=r"unknown bind\(s\) :delivery"):
        load_queries(queries)


def test_shipped_queries_are_portable() -> None:
    queries = load_queries(SHIPPED_QUERIES)
    assert set(queries) == {"entitlement", "mous_state", "qa0_pass", "fields", "release"}
    for query in queries.values():
        text = query.path.read_text()
        assert text.startswith("--") and "Returns:" in text and ":mous" in text
        assert query.binds == {"mous"}
        assert not query.sql.rstrip().endswith(";")
        for dialect_only in ("NVL(", "SYSDATE", "DUAL", "FETCH FIRST", "LIMIT ", "IFNULL"):
            assert dialect_only not in query.sql.upper(), (query.name, dialect_only)


@pytest.mark.parametrize(
    ("text", "sql", "binds"),
    [
        ("SELECT 1 AS n FROM t WHERE a = :mous;", "SELECT 1 AS n FROM t WHERE a = :mous", {"mous"}),
        ("-- uses :mous\nSELECT 1 AS n\n;\n-- the end\n", "-- uses :mous\nSELECT 1 AS n", set()),
        ("SELECT ':mous' AS x, \"a:b\" FROM t", "SELECT ':mous' AS x, \"a:b\" FROM t", set()),
        ("SELECT 1 /* :skip */ FROM t WHERE x = :mous ;  ", "SELECT 1 /* :skip */ FROM t WHERE x"
         " = :mous", {"mous"}),
        ("SELECT 'it''s; :no' FROM t WHERE u = 'uid://A001/X1/X2'", "SELECT 'it''s; :no' FROM t"
         " WHERE u = 'uid://A001/X1/X2'", set()),
        ("SELECT x::text FROM t WHERE y = :a AND z = :b_2", "SELECT x::text FROM t WHERE y = :a"
         " AND z = :b_2", {"a", "b_2"}),
    ],
)  # fmt: skip
def test_parse_statement(text: str, sql: str, binds: set[str]) -> None:
    assert parse_statement(text) == (sql, frozenset(binds))


class RecordingConnection:
    """Our own connection seam: records the binds each statement is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def rows(self, sql: str, binds: dict[str, str]) -> Rows:
        self.calls.append((sql, binds))
        if "AS state" in sql:
            return ["STATE"], [("Delivered   ",)]
        if "AS n" in sql:
            return ["N"], [(3,)]
        if "AS release_date" in sql:
            return ["RELEASE_DATE"], [(datetime(2020, 1, 2, 13, 0),), (None,)]
        if "AS field_name" in sql:
            return ["FIELD_NAME", "IS_CALIBRATOR"], [("J1", "Y"), ("T", "N"), (None, "Y")]
        return ["PROJECT_CODE", "ROLE", "EMAIL"], [("2019.1.00337.S", "PI     ", None)]

    def close(self) -> None:
        pass


def test_statements_get_exactly_the_binds_they_use(tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(SHIPPED_QUERIES, queries)
    (queries / "mous_state.sql").write_text("-- no bind here: :mous\nSELECT 'x' AS state")
    connection = RecordingConnection()
    archive = SqlArchive(connection, load_queries(queries), "recording")
    facts = archive.facts("uid://A001/X14d7/X160")
    binds = [b for _, b in connection.calls]
    assert binds.count({}) == 1
    assert binds.count({"mous": "uid://A001/X14d7/X160"}) == 4
    # Oracle-shaped values: upper-case names, CHAR padding, datetimes, NULLs, Y/N flags.
    assert facts.state == "Delivered"
    assert facts.qa0_pass == 3
    # One delivery dated, one not yet (NULL): not public, whatever the other says.
    assert facts.release_date is None
    assert [r.release_date for r in facts.release_rows] == [date(2020, 1, 2), None]
    assert facts.fields == (("J1", True), ("T", False))
    assert facts.field_rows[0].intents is None  # this query has no intents column
    assert [(r.role, r.email) for r in facts.entitlement] == [("PI", "")]


# --- empty archive, missing file, configuration ----------------------------------------------


def test_empty_archive_knows_no_mous(tmp_path: Path) -> None:
    demo_archive.create(tmp_path / "alma.sqlite")
    case = DEMO_CASES[0]
    with open_archive(make_config(tmp_path)) as archive:
        facts = archive.facts(case.mous)
    assert facts == Facts(entitlement=(), state=None, qa0_pass=0, fields=(), release_date=None)
    assert decide(request_for(case), facts, (), TODAY).code is VerdictCode.INVALID_MOUS


def test_seed_twice_gives_the_same_archive(tmp_path: Path, seeded: Path) -> None:
    def counts() -> list[int]:
        db = sqlite3.connect(seeded)
        try:
            tables = demo_archive.TABLES
            return [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables]
        finally:
            db.close()

    before = counts()
    demo_archive.seed(seeded, today=TODAY)
    assert counts() == before
    assert all(before)


def test_missing_sqlite_file_is_a_setting_naming_its_command(tmp_path: Path) -> None:
    """Not an outage to retry: a fresh config names a file only a command creates."""
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        open_archive(make_config(tmp_path))
    assert time.monotonic() - started < 3
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"archive.url names {tmp_path}/alma.sqlite, which does not exist: create "
                       f"the demo archive with `mailbot archive init --demo {tmp_path}/alma.sqlite`"
                       ", or set archive.url")


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "alma.sqlite").write_bytes(b"not a database, just text\n" * 100)
    with pytest.raises(ArchiveError, match=r"file is not a database \(1 attempt in"):
        open_archive(make_config(tmp_path))


@pytest.mark.parametrize(
    "url",
    ["postgres://aog@127.0.0.1/alma", "sqlite://relative.db", "oracle://127.0.0.1:1521/x",
     "oracle://aog:secret@127.0.0.1:1521/x", "oracle://aog@127.0.0.1:port/x"],
)  # fmt: skip
def test_bad_urls_are_config_errors(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"archive\.url"):
        open_archive(make_config(tmp_path), url=url)


def test_oracle_without_password_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILBOT_TEST_ARCHIVE_PW", raising=False)
    monkeypatch.delenv("MAILBOT_TEST_ARCHIVE_PW_FILE", raising=False)
    config = make_config(tmp_path, password_env="MAILBOT_TEST_ARCHIVE_PW")
    with pytest.raises(ConfigError, match=r"\$MAILBOT_TEST_ARCHIVE_PW"):
        open_archive(config, url="oracle://aog@127.0.0.1:1521/alma")


# --- oracledb against real loopback sockets --------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener that accepts TCP connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def _attempts(message: str) -> int:
    match = re.search(r"\((\d+) attempts? in [\d.]+ s\)$", message)
    assert match, message
    return int(match.group(1))


def test_oracle_closed_port_retries_then_raises(
    tmp_path: Path,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MAILBOT_ARCHIVE_PASSWORD", "not-used")
    config = make_config(tmp_path, retry_seconds=1.0)
    url = f"oracle://aog@127.0.0.1:{closed_port}/alma"
    started = time.monotonic()
    with (
        caplog.at_level(logging.INFO, logger="mailbot.retry"),
        pytest.raises(ArchiveError) as info,
    ):
        open_archive(config, url=url)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert 0.5 < elapsed < 4
    assert message.startswith(f"archive database unavailable: {url}: DPY-6005")
    assert "\n" not in message and "not-used" not in message
    attempts = _attempts(message)
    assert attempts >= 3
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == attempts - 1
    assert info.value.exit_status == 75


def test_oracle_silent_peer_is_bounded_by_connect_timeout(
    tmp_path: Path, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILBOT_ARCHIVE_PASSWORD", "not-used")
    config = make_config(tmp_path, retry_seconds=1.0, connect_timeout=0.4)
    started = time.monotonic()
    with pytest.raises(ArchiveError) as info:
        open_archive(config, url=f"oracle://aog@127.0.0.1:{silent_port}/alma")
    assert time.monotonic() - started < 4
    assert _attempts(str(info.value)) >= 2


def test_seed_replaces_a_demo_archive_of_an_earlier_schema(tmp_path: Path) -> None:
    path = tmp_path / "alma.sqlite"
    db = sqlite3.connect(path)
    db.executescript(  # the demo schema of before: pi_userid, dp_delegation, no active flag
        "CREATE TABLE account (account_id TEXT PRIMARY KEY, request_handler_id INTEGER,"
        " firstname TEXT, lastname TEXT, email TEXT, preferredarc TEXT);"
        "CREATE TABLE bmmv_obsproject (prj_archive_uid TEXT PRIMARY KEY, prj_code TEXT,"
        " prj_title TEXT, pi_userid TEXT);"
        "CREATE TABLE dp_delegation (pi_rh_id INTEGER, delegee_rh_id INTEGER,"
        " project_code TEXT);")
    db.close()
    demo_archive.seed(path, today=TODAY)
    db = sqlite3.connect(path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    columns = {r[1] for r in db.execute("PRAGMA table_info(bmmv_obsproject)")}
    db.close()
    assert "dp_delegation" not in tables and "account_delegation" in tables
    assert "pi" in columns and "pi_userid" not in columns
    with open_archive(make_config(tmp_path)) as archive:
        assert archive.facts(DEMO_CASES[0].mous).entitlement
