"""A SQLite stand-in for the ALMA archive, with the real table and column names.

`create` makes an empty archive (for `mailbot archive init PATH`), `seed` fills
one with the demo projects of `demo_data`, whose `DEMO_CASES` are requests whose
verdicts on the seeded archive cover every verdict of the procedure. The shipped
queries run on it unchanged, because the adapter attaches it under the schema
name `alma`.

Only the columns the queries need are modelled, plus a few that make a row
recognisable to someone who knows the archive (names, ARC, comments). Columns
the archive may leave empty are nullable here too, so that tests can store
every NULL the queries must survive.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mailbot.archive.demo_data import (
    ACCOUNTS,
    DELEGATIONS,
    DEMO_CASES,
    MOUSES,
    PROJECTS,
    DemoCase,
    DemoMous,
)
from mailbot.errors import ConfigError
from mailbot.model import mous_file_form

__all__ = ["DEMO_CASES", "MOUSES", "SCHEMA", "TABLES", "DemoCase", "create", "seed"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS account (
    account_id          TEXT PRIMARY KEY,
    request_handler_id  INTEGER NOT NULL UNIQUE,
    firstname           TEXT,
    lastname            TEXT,
    email               TEXT,
    preferredarc        TEXT,
    active              TEXT                -- 'T' or 'F'; inactive accounts linger
);
CREATE TABLE IF NOT EXISTS bmmv_obsproject (
    prj_archive_uid     TEXT PRIMARY KEY,
    prj_code            TEXT NOT NULL,
    prj_title           TEXT,
    pi                  TEXT                -- the PI's account.account_id
);
CREATE TABLE IF NOT EXISTS bmmv_obsproposal (
    archive_uid         TEXT PRIMARY KEY,
    projectuid          TEXT,               -- bmmv_obsproject.prj_archive_uid
    pi_userid           TEXT                -- the PI's account.account_id
);
CREATE TABLE IF NOT EXISTS account_delegation (
    id                  INTEGER PRIMARY KEY,
    pi_rh_id            INTEGER NOT NULL,
    delegee_rh_id       INTEGER NOT NULL,
    project_code        TEXT NOT NULL,
    delegation_type     TEXT                -- DATA entitles; others (ToO triggers) do not
);
CREATE TABLE IF NOT EXISTS obs_unit_set_status (
    status_entity_id    TEXT PRIMARY KEY,   -- the MOUS UID
    domain_entity_state TEXT,
    obs_project_id      TEXT                -- bmmv_obsproject.prj_archive_uid
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
    qa0status           TEXT                -- Pass, SemiPass, Fail, Unset
);
CREATE TABLE IF NOT EXISTS asa_science (
    dataset_id          TEXT PRIMARY KEY,
    member_ouss_id      TEXT NOT NULL,
    project_code        TEXT,
    source_name         TEXT NOT NULL,
    scan_intent         TEXT,               -- space-separated intents, e.g. "TARGET"
    asdm_uid            TEXT
);
CREATE TABLE IF NOT EXISTS dp_delivery_status (
    id                  INTEGER PRIMARY KEY,
    delivery_id         TEXT NOT NULL,      -- <project>_<MOUS file form>
    pi_account_id       INTEGER,
    qa2_passed          TEXT,
    release_date        TEXT,               -- ISO date, NULL until set; a DATE on Oracle
    release_date_comment TEXT
);
CREATE TABLE IF NOT EXISTS dp_delivery_asdm_ous (
    id                  INTEGER PRIMARY KEY,
    asdm_uid            TEXT NOT NULL,
    deliverable_name    TEXT,               -- dp_delivery_status.delivery_id
    delivery_id         INTEGER             -- dp_delivery_status.id; NULL on old rows
);
CREATE INDEX IF NOT EXISTS sbs_parent ON sched_block_status (parent_obs_unit_set_status_id);
CREATE INDEX IF NOT EXISTS eb_sb ON aqua_execblock (schedblockuid);
CREATE INDEX IF NOT EXISTS asa_mous ON asa_science (member_ouss_id);
CREATE INDEX IF NOT EXISTS deleg_project ON account_delegation (project_code);
CREATE INDEX IF NOT EXISTS dda_asdm ON dp_delivery_asdm_ous (asdm_uid);
"""

TABLES = (
    "dp_delivery_asdm_ous",
    "dp_delivery_status",
    "asa_science",
    "aqua_execblock",
    "sched_block_status",
    "obs_unit_set_status",
    "account_delegation",
    "bmmv_obsproposal",
    "bmmv_obsproject",
    "account",
)
# Tables of the demo schemas of earlier mailbots, dropped by `seed`.
_RETIRED = ("dp_delegation",)

# How long seeded proprietary data stays proprietary, counted from the seeding day,
# so that the demo verdicts hold for a long while after `mailbot archive init`.
PROPRIETARY_DAYS = 4 * 365

# --- building the database -------------------------------------------------------------


def create(path: Path) -> None:
    """An archive with the schema and no rows (existing tables are kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SCHEMA)


def seed_for_settings(path: Path) -> None:
    """`seed` for the archive fresh settings name; a file that cannot be made is one line."""
    try:
        seed(path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot create the demo archive {path}: {exc}; set "
                          "mailbot.data_dir or archive.url") from None


def seed(path: Path, *, today: date | None = None) -> None:
    """The schema plus the demo data (replacing the demo tables already there).

    Tables are made anew, so that an archive seeded by an earlier mailbot gets
    today's columns. Proprietary data is released `PROPRIETARY_DAYS` after `today`
    (default: the real today), so the demo verdicts stay true long after seeding.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        for table in (*TABLES, *_RETIRED):
            db.execute(f"DROP TABLE IF EXISTS {table}")
    create(path)
    release = (today or date.today()) + timedelta(days=PROPRIETARY_DAYS)
    with closing(sqlite3.connect(path)) as db, db:
        _insert(db, "account", ACCOUNTS)
        rh_id = {account[0]: account[1] for account in ACCOUNTS}
        _insert(db, "bmmv_obsproject", PROJECTS)
        _insert(db, "bmmv_obsproposal", ((_sibling_uid(uid, 1), uid, pi)
                                         for uid, _, _, pi in PROJECTS))
        _insert(db, "account_delegation",
                ((n, rh_id[pi], rh_id[delegee], code, kind)
                 for n, (pi, delegee, code, kind) in enumerate(DELEGATIONS, start=1)))
        pi_of = {code: rh_id[pi] for _, code, _, pi in PROJECTS}
        for number, mous in enumerate(MOUSES, start=1):
            _insert_mous(db, number, mous)
            _insert_deliveries(db, number, mous, pi_of[mous.project], release)


def _insert_mous(db: sqlite3.Connection, number: int, mous: DemoMous) -> None:
    project_uid = next(uid for uid, code, _, _ in PROJECTS if code == mous.project)
    sb_uid = _sibling_uid(mous.uid, -2)
    _insert(db, "obs_unit_set_status", [(mous.uid, mous.state, project_uid)])
    _insert(db, "sched_block_status", [(sb_uid, mous.uid, "FullyObserved")])
    _insert(db, "aqua_execblock", [(eb, sb_uid, mous.project, qa0) for eb, qa0 in mous.ebs])
    _insert(
        db,
        "asa_science",
        (
            (f"{eb}.{n}", mous.uid, mous.project, source, intents, eb)
            for eb in _passed(mous)
            for n, (source, intents) in enumerate(mous.fields)
        ),
    )


def _insert_deliveries(db: sqlite3.Connection, number: int, mous: DemoMous, pi_rh_id: int,
                       proprietary_until: date) -> None:
    """The MOUS's delivery (and a pending redelivery), linked to its QA0 Pass EBs."""
    if mous.release is None:
        return
    released = proprietary_until.isoformat() if mous.release == "proprietary" else mous.release
    name = f"{mous.project}_{mous_file_form(mous.uid)}"
    deliveries: list[tuple[int, str, str | None]] = [(number, name, released)]
    if mous.pending:
        deliveries.append((number + 100, f"{name}_2", None))
    for delivery, delivery_name, day in deliveries:
        _insert(db, "dp_delivery_status",
                [(delivery, delivery_name, pi_rh_id, "Y", day, "Ingestion: demo archive")])
        link = None if mous.by_name else delivery
        _insert(db, "dp_delivery_asdm_ous",
                ((delivery * 100 + n, eb, delivery_name, link)
                 for n, eb in enumerate(_passed(mous))))


def _passed(mous: DemoMous) -> list[str]:
    return [eb for eb, qa0 in mous.ebs if qa0 == "Pass"]


def _insert(db: sqlite3.Connection, table: str, rows: Iterable[Sequence[Any]]) -> None:
    rows = list(rows)
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


def _sibling_uid(uid: str, offset: int) -> str:
    """A neighbouring UID in the same block, e.g. the SB created just before a MOUS."""
    head, _, last = uid.rpartition("/X")
    return f"{head}/X{int(last, 16) + offset:x}"
