"""A SQLite stand-in for the ALMA archive, with the real table and column names.

`create` makes an empty archive (for `mailbot archive init PATH`), `seed` fills
one with demo projects, and `DEMO_CASES` are requests whose verdicts on the
seeded archive cover every verdict of the procedure. The shipped queries run
on it unchanged, because the adapter attaches it under the schema name `alma`.

Only the columns the queries need are modelled, plus a few that make a row
recognisable to someone who knows the archive (names, ARC, comments).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mailbot.model import VerdictCode, mous_file_form

SCHEMA = """
CREATE TABLE IF NOT EXISTS account (
    account_id          TEXT PRIMARY KEY,
    request_handler_id  INTEGER NOT NULL UNIQUE,
    firstname           TEXT,
    lastname            TEXT,
    email               TEXT,
    preferredarc        TEXT
);
CREATE TABLE IF NOT EXISTS bmmv_obsproject (
    prj_archive_uid     TEXT PRIMARY KEY,
    prj_code            TEXT NOT NULL,
    prj_title           TEXT,
    pi_userid           TEXT REFERENCES account (account_id)
);
CREATE TABLE IF NOT EXISTS dp_delegation (
    pi_rh_id            INTEGER NOT NULL,
    delegee_rh_id       INTEGER NOT NULL,
    project_code        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS obs_unit_set_status (
    status_entity_id    TEXT PRIMARY KEY,   -- the MOUS UID
    domain_entity_state TEXT NOT NULL,
    obs_project_id      TEXT REFERENCES bmmv_obsproject (prj_archive_uid)
);
CREATE TABLE IF NOT EXISTS sched_block_status (
    domain_entity_id              TEXT PRIMARY KEY,   -- the SB UID
    parent_obs_unit_set_status_id TEXT,               -- the MOUS UID
    domain_entity_state           TEXT
);
CREATE TABLE IF NOT EXISTS aqua_execblock (
    execblockuid        TEXT PRIMARY KEY,
    schedblockuid       TEXT,
    obsprojectcode      TEXT,
    qa0status           TEXT
);
CREATE TABLE IF NOT EXISTS asa_science (
    dataset_id          TEXT PRIMARY KEY,
    member_ouss_id      TEXT NOT NULL,
    project_code        TEXT,
    source_name         TEXT NOT NULL,
    scan_intent         TEXT,               -- space-separated intents of the source
    asdm_uid            TEXT
);
CREATE TABLE IF NOT EXISTS dp_delivery_status (
    id                  INTEGER PRIMARY KEY,
    delivery_id         TEXT NOT NULL,      -- <project>_<MOUS file form>
    pi_account_id       INTEGER,
    qa2_passed          TEXT,
    release_date        TEXT,               -- ISO date; a DATE on Oracle
    release_date_comment TEXT
);
CREATE TABLE IF NOT EXISTS dp_delivery_asdm_ous (
    id                  INTEGER PRIMARY KEY,
    asdm_uid            TEXT NOT NULL,
    deliverable_name    TEXT,
    delivery_id         INTEGER REFERENCES dp_delivery_status (id)
);
CREATE INDEX IF NOT EXISTS sbs_parent ON sched_block_status (parent_obs_unit_set_status_id);
CREATE INDEX IF NOT EXISTS eb_sb ON aqua_execblock (schedblockuid);
CREATE INDEX IF NOT EXISTS asa_mous ON asa_science (member_ouss_id);
CREATE INDEX IF NOT EXISTS deleg_project ON dp_delegation (project_code);
CREATE INDEX IF NOT EXISTS dda_asdm ON dp_delivery_asdm_ous (asdm_uid);
"""

TABLES = (
    "dp_delivery_asdm_ous",
    "dp_delivery_status",
    "asa_science",
    "aqua_execblock",
    "sched_block_status",
    "obs_unit_set_status",
    "dp_delegation",
    "bmmv_obsproject",
    "account",
)

# How long seeded proprietary data stays proprietary, counted from the seeding day,
# so that the demo verdicts hold for a long while after `mailbot archive init`.
PROPRIETARY_DAYS = 4 * 365

# --- demo data ----------------------------------------------------------------------

ACCOUNTS = (
    # account_id, request_handler_id, firstname, lastname, email, preferredarc
    ("jszulagyi", 40121, "Judit", "Szulágyi", "judit.szulagyi@example.org", "EU"),
    ("lkarrstrom", 40533, "Lina", "Kärrström", "lina.karrstrom@example.org", "EU"),
    ("tnakamura", 31877, "Takeshi", "Nakamura", "t.nakamura@example.net", "EA"),
    ("mgarciaperez", 41277, "María", "García Pérez", "maria.garcia@example.org", "NA"),
    ("kwojcik", 39004, "Katarzyna", "Wójcik", "k.wojcik@example.org", "EU"),
    ("ajensen", 22418, "Anders", "Jensen", "anders.jensen@example.org", "EU"),
    ("amueller", 42190, "Anna", "Müller", "anna.mueller@example.org", "EU"),
    ("objornstad", 42311, "Øystein", "Bjørnstad", "oystein.bjornstad@example.org", "EU"),
)

PROJECTS = (
    # prj_archive_uid, prj_code, title, pi account
    ("uid://A001/X1288/X3c1", "2017.1.00727.S", "Circumplanetary disks in HL Tau", "jszulagyi"),
    (
        "uid://A001/X879/X2a0",
        "2016.1.00484.L",
        "Disk Substructures at High Angular Resolution",
        "tnakamura",
    ),
    ("uid://A001/X14d7/X15a", "2019.1.00337.S", "Dense gas in the NGC 1068 torus", "mgarciaperez"),
    ("uid://A001/X133d/X3ce1", "2018.1.01406.S", "Water fountains in evolved stars", "kwojcik"),
    ("uid://A002/X2e1c5e/X5", "2011.0.00101.S", "Early Science dust continuum survey", "ajensen"),
)

DELEGATIONS = (
    # PI account, delegee account, project
    ("jszulagyi", "lkarrstrom", "2017.1.00727.S"),
    ("mgarciaperez", "jszulagyi", "2019.1.00337.S"),
)

_BP = "CALIBRATE_BANDPASS CALIBRATE_FLUX CALIBRATE_WVR"
_PH = "CALIBRATE_PHASE CALIBRATE_WVR"
_CHECK = "OBSERVE_CHECK_SOURCE CALIBRATE_WVR"
_SCI = "OBSERVE_TARGET CALIBRATE_WVR"


@dataclass(frozen=True)
class _Mous:
    uid: str
    project: str
    state: str
    ebs: tuple[tuple[str, str], ...]  # (execblockuid, qa0status)
    fields: tuple[tuple[str, str], ...]  # (source_name, scan intents)
    release: str | None  # "proprietary", "YYYY-MM-DD" or None (not delivered yet)


MOUSES = (
    _Mous(
        "uid://A001/X1296/X675",
        "2017.1.00727.S",
        "Delivered",
        (("uid://A002/Xc7e0a2/X4a1b", "Pass"), ("uid://A002/Xc7e0a2/X5d3e", "Pass")),
        (("J0510+1800", _BP), ("J0431+1731", _PH), ("J0321+1234", _CHECK), ("HL_Tau", _SCI)),
        "proprietary",
    ),
    _Mous(
        "uid://A001/X1296/X67b",
        "2017.1.00727.S",
        "Delivered",
        (("uid://A002/Xc8a1d5/X2f07", "Pass"), ("uid://A002/Xc8a1d5/X30e2", "SemiPass")),
        (("J0510+1800", _BP), ("J0431+1731", _PH), ("HL_Tau", _SCI)),
        "proprietary",
    ),
    _Mous(
        "uid://A001/X87a/X4c1",
        "2016.1.00484.L",
        "Delivered",
        (("uid://A002/Xbe7d1b/X1c6", "Pass"),),
        (("J1924-2914", _BP), ("J1733-1304", _PH), ("Elias_2-27", _SCI)),
        "2018-03-15",
    ),
    _Mous(
        "uid://A001/X14d7/X160",
        "2019.1.00337.S",
        "QA3InProgress",
        (("uid://A002/Xe3a5fd/X8b2", "Pass"),),
        (("J0217-0820", _BP), ("J0238+1636", _PH), ("NGC_1068", _SCI)),
        "proprietary",
    ),
    _Mous(
        "uid://A001/X14d7/X164",
        "2019.1.00337.S",
        "DeliveryInProgress",
        (("uid://A002/Xe3a5fd/X1a7c", "Pass"),),
        (("J0217-0820", _BP), ("J0238+1636", _PH), ("NGC_1068", _SCI)),
        None,
    ),
    _Mous(
        "uid://A001/X14d7/X168",
        "2019.1.00337.S",
        "FullyObserved",
        (("uid://A002/Xe41b09/X2d4", "Fail"), ("uid://A002/Xe41b09/X3f1", "SemiPass")),
        (),
        None,
    ),
    _Mous(
        "uid://A001/X133d/X3cf3",
        "2018.1.01406.S",
        "Delivered",
        (("uid://A002/Xd33a12/X15be", "Pass"),),
        (("J1751+0939", _BP), ("J1743-0350", _PH), ("IRAS_18286-0959", _SCI)),
        "proprietary",
    ),
    _Mous(
        "uid://A002/X3b3400/X90f",
        "2011.0.00101.S",
        "Delivered",
        (("uid://A002/X3c7a84/X1c", "Pass"),),
        (("3c454.3", _BP), ("Callisto", "CALIBRATE_AMPLI"), ("Arp_220", _SCI)),
        "2013-06-01",
    ),
)


@dataclass(frozen=True)
class DemoCase:
    """One demo request and the verdict it must get from the seeded archive."""

    name: str  # short label for the demo table, e.g. "entitled PI"
    expected: VerdictCode
    mous: str  # URI form
    project: str
    user_name: str
    user_email: str
    ticket: str
    calfields: tuple[str, ...] = ()


_JUDIT = ("Judit Szulágyi", "judit.szulagyi@example.org")
_OYSTEIN = ("Øystein Bjørnstad", "oystein.bjornstad@example.org")
_MARIA = ("María García Pérez", "maria.garcia@example.org")

# fmt: off
# In order: a run processes them one after the other, so the repeat of the first
# request meets it as an active request.
DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase("entitled PI", VerdictCode.STAGE,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_JUDIT, "16140"),
    DemoCase("same request again", VerdictCode.DUPLICATE,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_JUDIT, "16140"),
    DemoCase("delegee, email in other case and spaces", VerdictCode.STAGE,
             "uid://A001/X1296/X67b", "2017.1.00727.S",
             "Lina Kärrström", "  Lina.Karrstrom@EXAMPLE.org ", "16152"),
    DemoCase("public since its release date", VerdictCode.STAGE,
             "uid://A001/X87a/X4c1", "2016.1.00484.L",
             "Anna Müller", "anna.mueller@example.org", "16203"),
    DemoCase("calibrators only, user not entitled", VerdictCode.STAGE,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_OYSTEIN, "16267",
             ("J0510+1800", "J0321+1234")),
    DemoCase("science target named as calfield", VerdictCode.NOT_ENTITLED,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_OYSTEIN, "16268", ("HL_Tau",)),
    DemoCase("unknown calfield", VerdictCode.UNKNOWN_CALFIELD,
             "uid://A001/X1296/X675", "2017.1.00727.S", *_OYSTEIN, "16270",
             ("J0510+1800", "J0510+1801")),
    DemoCase("Cycle 0 project", VerdictCode.CYCLE_0,
             "uid://A002/X3b3400/X90f", "2011.0.00101.S",
             "Anders Jensen", "anders.jensen@example.org", "16311"),
    DemoCase("unknown MOUS", VerdictCode.INVALID_MOUS,
             "uid://A001/X1296/X9ff", "2017.1.00727.S", *_JUDIT, "16342"),
    DemoCase("MOUS of another project", VerdictCode.PROJECT_MISMATCH,
             "uid://A001/X1296/X675", "2018.1.01406.S",
             "Katarzyna Wójcik", "k.wojcik@example.org", "16355"),
    DemoCase("no QA0 Pass execution block", VerdictCode.NO_QA0_PASS,
             "uid://A001/X14d7/X168", "2019.1.00337.S", *_MARIA, "18702"),
    DemoCase("in QA3", VerdictCode.NOT_DELIVERED,
             "uid://A001/X14d7/X160", "2019.1.00337.S", *_MARIA, "18704"),
    DemoCase("delivery in progress", VerdictCode.NOT_DELIVERED,
             "uid://A001/X14d7/X164", "2019.1.00337.S", *_JUDIT, "18705"),
    DemoCase("user not entitled", VerdictCode.NOT_ENTITLED,
             "uid://A001/X133d/X3cf3", "2018.1.01406.S", *_OYSTEIN, "18711"),
)
# fmt: on


# --- building the database -------------------------------------------------------------


def create(path: Path) -> None:
    """An archive with the schema and no rows (existing tables are kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SCHEMA)


def seed(path: Path, *, today: date | None = None) -> None:
    """The schema plus the demo data (replacing any rows already there).

    Proprietary data is released `PROPRIETARY_DAYS` after `today` (default: the
    real today), so the demo verdicts stay true long after seeding.
    """
    create(path)
    release = (today or date.today()) + timedelta(days=PROPRIETARY_DAYS)
    with closing(sqlite3.connect(path)) as db, db:
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")
        _insert(db, "account", ACCOUNTS)
        rh_id = {account[0]: account[1] for account in ACCOUNTS}
        _insert(db, "bmmv_obsproject", PROJECTS)
        _insert(
            db,
            "dp_delegation",
            ((rh_id[pi], rh_id[delegee], code) for pi, delegee, code in DELEGATIONS),
        )
        pi_of = {code: rh_id[pi] for _, code, _, pi in PROJECTS}
        for number, mous in enumerate(MOUSES, start=1):
            _insert_mous(db, number, mous, pi_of[mous.project], release)


def _insert_mous(
    db: sqlite3.Connection, number: int, mous: _Mous, pi_rh_id: int, proprietary_until: date
) -> None:
    project_uid = next(uid for uid, code, _, _ in PROJECTS if code == mous.project)
    sb_uid = _sibling_uid(mous.uid, -2)
    _insert(db, "obs_unit_set_status", [(mous.uid, mous.state, project_uid)])
    _insert(db, "sched_block_status", [(sb_uid, mous.uid, "FullyObserved")])
    _insert(db, "aqua_execblock", [(eb, sb_uid, mous.project, qa0) for eb, qa0 in mous.ebs])
    passed = [eb for eb, qa0 in mous.ebs if qa0 == "Pass"]
    _insert(
        db,
        "asa_science",
        (
            (f"{eb}.{n}", mous.uid, mous.project, source, intents, eb)
            for eb in passed
            for n, (source, intents) in enumerate(mous.fields)
        ),
    )
    if mous.release is None:
        return
    released = proprietary_until.isoformat() if mous.release == "proprietary" else mous.release
    delivery = f"{mous.project}_{mous_file_form(mous.uid)}"
    _insert(
        db,
        "dp_delivery_status",
        [(number, delivery, pi_rh_id, "Y", released, "Ingestion: demo archive")],
    )
    _insert(
        db,
        "dp_delivery_asdm_ous",
        ((number * 100 + n, eb, delivery, number) for n, eb in enumerate(passed)),
    )


def _insert(db: sqlite3.Connection, table: str, rows: Iterable[Sequence[Any]]) -> None:
    rows = list(rows)
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


def _sibling_uid(uid: str, offset: int) -> str:
    """A neighbouring UID in the same block, e.g. the SB created just before a MOUS."""
    head, _, last = uid.rpartition("/X")
    return f"{head}/X{int(last, 16) + offset:x}"
