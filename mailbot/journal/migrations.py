"""The journal's schema as numbered migrations, each applied once, in order, in a transaction.

Like sqlite-utils' migrations: a migration is a named function of the
connection; `schema_migrations` records the number and name of every one
applied. A journal is never changed in place by hand: a new column or table is
a new migration appended to `MIGRATIONS`, and `meta.schema_version` follows the
last one, so that an older mailbot (which reads only that key) refuses the file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

# Today's schema exactly as mailbot wrote it before migrations were numbered:
# journals created then carry it and are adopted as migration 1 (see `applied`).
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Every mail or trigger file seen, and what became of it.
CREATE TABLE IF NOT EXISTS messages (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,          -- imap:<folder>, maildir, triggers
    source_key TEXT NOT NULL,          -- IMAP: Message-ID, else <uidvalidity>:<uid>;
                                       -- Maildir key; trigger file name
    message_id TEXT,
    kind       TEXT NOT NULL,          -- request, twin, malformed, ignored, shunted, untrusted
    request    INTEGER,                -- for a twin: the request it is a copy of
    reason     TEXT,
    subject    TEXT,
    sender     TEXT,
    received   TEXT NOT NULL,
    recorded   TEXT NOT NULL,
    marked     INTEGER NOT NULL DEFAULT 0,  -- source flagged/moved (requests only)
    raw        BLOB,                   -- kept for shunted mails, for AOG to look at
    UNIQUE (source, source_key)
);
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY,
    message     INTEGER REFERENCES messages(id),
    mous        TEXT NOT NULL,
    project     TEXT NOT NULL,
    calfields   TEXT NOT NULL,         -- comma separated, as stagecalms takes them
    user_name   TEXT NOT NULL,
    user_email  TEXT NOT NULL,
    ticket      TEXT NOT NULL,
    arc_contact TEXT NOT NULL,
    cc          TEXT NOT NULL,         -- JSON list
    message_id  TEXT,
    received    TEXT NOT NULL,
    origin      TEXT NOT NULL,         -- JSON: what replies need to thread and quote
    verdict     TEXT NOT NULL,         -- VerdictCode
    check_name  TEXT NOT NULL,         -- the check that decided
    detail      TEXT NOT NULL,         -- JSON
    state       TEXT NOT NULL,         -- answered, staging, completed, failed, cancelled
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_state ON requests(state);
CREATE TABLE IF NOT EXISTS jobs (
    id            INTEGER PRIMARY KEY,
    request       INTEGER NOT NULL REFERENCES requests(id),
    attempt       INTEGER NOT NULL DEFAULT 1,
    state         TEXT NOT NULL,       -- waiting, running, succeeded, failed, cancelled
    command       TEXT NOT NULL,
    job_dir       TEXT,
    pid           INTEGER,
    queued        TEXT NOT NULL,
    started       TEXT,
    finished      TEXT,
    exit_status   INTEGER,
    output        TEXT,
    url           TEXT,
    deletion_date TEXT,
    total_bytes   INTEGER,
    problems      TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS outbox (
    id         INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    message    INTEGER REFERENCES messages(id),  -- the mail that caused it
    request    INTEGER REFERENCES requests(id),
    job        INTEGER REFERENCES jobs(id),
    mail_from  TEXT NOT NULL,
    rcpt_to    TEXT NOT NULL,          -- JSON list, Bcc included (envelope only)
    subject    TEXT NOT NULL,
    data       BLOB NOT NULL,
    state      TEXT NOT NULL,          -- queued, held, sent, failed, discarded
    created    TEXT NOT NULL,
    sent       TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    copied     INTEGER NOT NULL DEFAULT 0  -- review copy stored for AOG
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state);
CREATE TABLE IF NOT EXISTS imap_state (
    folder      TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL
);
"""

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    number  INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    applied TEXT NOT NULL
)
"""


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute statement by statement: executescript would commit the open transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        # complete_statement knows comments and quotes (a ';' in a comment is not an end).
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"unterminated SQL statement: {statement.strip()[:60]}")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    apply: Callable[[sqlite3.Connection], None]


def _v1_schema(db: sqlite3.Connection) -> None:
    run_script(db, V1_SCHEMA)


def _plan_steps(db: sqlite3.Connection) -> None:
    # Which step of `mailbot.plan` decided a mail, and the steps it passed before
    # (space separated): AOG can ask why a mail was kept, ignored or answered.
    # Mail recorded before keeps NULL: nobody knows which step it would have met.
    run_script(db, "ALTER TABLE messages ADD COLUMN step TEXT;\n"
                   "ALTER TABLE messages ADD COLUMN passed TEXT;\n")


# Frozen copies of what stagecalms prints (mailbot.stage.output, 2024): a migration
# must read old output the same way forever, whatever the parser becomes.
_REUSED_MS = re.compile(r"Found pre-existing\s+(\S+)")
_EB = re.compile(r"^\s*(uid___A\d{3}_X[0-9a-f]+_X[0-9a-f]+)(?=\s|$)"
                 r"|MS for (uid___A\d{3}_X[0-9a-f]+_X[0-9a-f]+) was not found", re.MULTILINE)


def _staging_reuse(db: sqlite3.Connection) -> None:
    # The stats sheet's share served by reuse: how many MSs a staging hard-linked
    # from an earlier one, out of how many EBs. Finished jobs of before get them
    # from their kept output; a job without output keeps NULL (not known).
    run_script(db, "ALTER TABLE jobs ADD COLUMN reused INTEGER;\n"
                   "ALTER TABLE jobs ADD COLUMN ebs INTEGER;\n")
    rows = db.execute("SELECT id, output FROM jobs WHERE output IS NOT NULL").fetchall()
    for job_id, output in rows:
        reused = set(_REUSED_MS.findall(output))
        ebs = {a or b for a, b in _EB.findall(output)}
        db.execute("UPDATE jobs SET reused = ?, ebs = ? WHERE id = ?",
                   (len(reused), len(ebs), job_id))


def _judged_on(db: sqlite3.Connection) -> None:
    # What each verdict was judged on, for "why did the bot say that?" (`mailbot
    # explain REQ`): the archive's facts (JSON), the day of the request in AOG's
    # time zone, and the checks passed before the deciding one (space separated).
    # Requests recorded before keep NULL: what the archive said then is gone.
    run_script(db, "ALTER TABLE requests ADD COLUMN facts TEXT;\n"
                   "ALTER TABLE requests ADD COLUMN day TEXT;\n"
                   "ALTER TABLE requests ADD COLUMN passed TEXT;\n")


def _identities(db: sqlite3.Connection) -> None:
    # Exactly once by what a mail is, not where it lies: each mail's content digest
    # (`inbox.identity`) next to its Message-ID, and for a copy (or another mail
    # reusing a Message-ID) the mail first recorded. IMAP mail was keyed by its
    # Message-ID before: that key is its Message-ID for every kind of mail now.
    # Outgoing mail keeps the recipients the server refused while accepting it for
    # the others, until AOG dismisses them from `mailbot attention`.
    run_script(db, "ALTER TABLE messages ADD COLUMN digest TEXT;\n"
                   "ALTER TABLE messages ADD COLUMN earlier INTEGER;\n"
                   "UPDATE messages SET message_id = source_key WHERE message_id IS NULL"
                   " AND source LIKE 'imap:%' AND source_key LIKE '<%>';\n"
                   "CREATE INDEX messages_message_id ON messages(message_id);\n"
                   "CREATE INDEX messages_digest ON messages(digest);\n"
                   "ALTER TABLE outbox ADD COLUMN refused TEXT;\n"
                   "ALTER TABLE outbox ADD COLUMN dismissed INTEGER NOT NULL DEFAULT 0;\n")


def _sender_limits(db: sqlite3.Connection) -> None:
    # The limits (`limits.requests_per_day`, `_per_run`) count each new mail's sender's
    # recent mails: an index, so that a year of journal costs nothing per mail. Nothing
    # else changes: mail recorded before counts as it is.
    run_script(db, "CREATE INDEX messages_sender ON messages(sender, recorded);\n")


def _shadow(db: sqlite3.Connection) -> None:
    # The mails a shadow pass took (`mailbot.mode = "shadow"`): what their requests
    # would have got is kept, but their mail and stagings are shelved, never sent or
    # launched, and `mailbot shadow-report` lists them. Nothing else changes.
    run_script(db, "CREATE TABLE shadow (\n"
                   "    message INTEGER PRIMARY KEY REFERENCES messages(id),\n"
                   "    shelved TEXT NOT NULL\n);\n")


def _hot_indices(db: sqlite3.Connection) -> None:
    # Every query a run makes per mail, or an idle run makes at all, finds its rows by
    # an index: a journal of years costs a run what a new one does. For the twin of a
    # request (mous, ticket) and whether it has one (messages.request); mail recorded
    # but not yet marked (source, marked); mail sent but not yet copied for review
    # (state, copied); a request's jobs and mails. Nothing else changes.
    run_script(db, "".join(f"CREATE INDEX {name} ON {on};\n" for name, on in _HOT_INDICES))


_HOT_INDICES = (
    ("requests_twin", "requests(mous, ticket)"),
    ("messages_request", "messages(request)"),
    ("messages_unmarked", "messages(source, marked)"),
    ("outbox_uncopied", "outbox(state, copied)"),
    ("outbox_request", "outbox(request)"),
    ("jobs_request", "jobs(request)"),
)


def _health_indices(db: sqlite3.Connection) -> None:
    # What every run reports to monitoring (`mailbot status`, the textfile): the mails
    # kept for AOG by kind, and the sent mails some recipients refused (a partial index:
    # the few not yet dismissed, not every mail ever sent). Without them an idle run
    # read the whole history, mail bytes included. Nothing else changes.
    run_script(db, "CREATE INDEX messages_kind ON messages(kind);\n"
                   "CREATE INDEX outbox_refused ON outbox(state)"
                   " WHERE refused IS NOT NULL AND dismissed = 0;\n")


# Append only: a migration once released is never edited, renumbered or removed.
MIGRATIONS = (
    Migration(1, "messages, requests, jobs, outbox and IMAP watermarks", _v1_schema),
    Migration(2, "the plan step that decided each mail", _plan_steps),
    Migration(3, "how many MSs each staging reused, of how many EBs", _staging_reuse),
    Migration(4, "what each request was judged on: facts, day, checks passed", _judged_on),
    Migration(5, "mail identities (Message-ID and digest), copies, refused recipients",
              _identities),
    Migration(6, "an index of mail by sender, for the per-sender limits", _sender_limits),
    Migration(7, "the mails a shadow pass took, shelved rather than served", _shadow),
    Migration(8, "indices for every query on a run's hot path", _hot_indices),
    Migration(9, "indices for the health figures every run reports", _health_indices),
)
SCHEMA_VERSION = MIGRATIONS[-1].number


def tables(db: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def meta_version(db: sqlite3.Connection) -> int:
    """`meta.schema_version`, the key every mailbot reads; 0 for a new file."""
    if "meta" not in tables(db):
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row is not None else 0


def applied(db: sqlite3.Connection) -> set[int]:
    """The numbers of the migrations the journal has, a journal of before them included.

    A journal written before migrations were numbered has no `schema_migrations`
    but has the `meta` table of migration 1 (created with IF NOT EXISTS by every
    open, so its tables are complete): it is at migration 1.
    """
    present = tables(db)
    if "schema_migrations" in present:
        return {int(r[0]) for r in db.execute("SELECT number FROM schema_migrations")}
    return {1} if "meta" in present else set()
