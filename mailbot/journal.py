"""The bot's memory (SQLite): every mail seen, every request, staging job and outgoing mail.

The outcome of a mail is recorded here, together with every mail it causes, in
ONE transaction before the mailbox is touched (transactional outbox): a crash
anywhere leaves either nothing (the mail is redone) or everything (the mail is
skipped and only its marking is redone).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailbot.errors import MailbotError
from mailbot.model import Origin, OutgoingMail, Request, Verdict

SCHEMA_VERSION = 1

_SCHEMA = """
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

ACTIVE_REQUEST_STATES = ("staging",)
ACTIVE_JOB_STATES = ("waiting", "running")


def now() -> datetime:
    return datetime.now(UTC)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class JobRow:
    id: int
    request: int
    attempt: int
    state: str
    command: str
    job_dir: str | None
    pid: int | None
    queued: str
    started: str | None
    finished: str | None
    exit_status: int | None
    output: str | None
    url: str | None
    instance: str  # of the journal: job ids repeat across journals, names must not

    @property
    def name(self) -> str:
        """The job's directory name on the staging host: unique per journal, job, attempt."""
        return f"job-{self.instance}-{self.id}-{self.attempt}"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: str
    kind: str
    request: int | None
    job: int | None
    mail_from: str
    rcpt_to: tuple[str, ...]
    subject: str
    data: bytes
    state: str
    created: str
    sent: str | None
    attempts: int
    error: str | None
    copied: bool


def _origin_json(origin: Origin) -> str:
    return json.dumps(
        {
            "channel": origin.channel,
            "sender": origin.sender,
            "sender_name": origin.sender_name,
            "reply_to": list(origin.reply_to),
            "to": list(origin.to),
            "cc": list(origin.cc),
            "subject": origin.subject,
            "message_id": origin.message_id,
            "references": list(origin.references),
            "date": origin.date.isoformat() if origin.date else None,
            "text": origin.text,
        }
    )


def _origin_from_json(text: str) -> Origin:
    d = json.loads(text)
    return Origin(
        channel=d["channel"],
        sender=d["sender"],
        sender_name=d["sender_name"],
        reply_to=tuple(d["reply_to"]),
        to=tuple(d["to"]),
        cc=tuple(d["cc"]),
        subject=d["subject"],
        message_id=d["message_id"],
        references=tuple(d["references"]),
        date=datetime.fromisoformat(d["date"]) if d["date"] else None,
        text=d["text"],
    )


class Journal:
    """All reads and writes of the bot's state; one connection, explicit transactions."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a transaction
        # spans exactly what `transaction()` encloses.
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self._depth = 0
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # executescript commits on its own; every statement is idempotent.
        self.db.executescript(_SCHEMA)
        with self.transaction():
            version = self.get_meta("schema_version")
            if version is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            instance = self.get_meta("instance")
            if instance is None:
                instance = secrets.token_hex(4)
                self.set_meta("instance", instance)
        self.instance = instance
        if version is not None and int(version) > SCHEMA_VERSION:
            self.db.close()
            raise MailbotError(f"journal {path} was written by a newer mailbot (schema "
                               f"{version}, this one knows {SCHEMA_VERSION}): upgrade mailbot")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested, a savepoint (undone alone, committed by the outer one)."""
        if self.db.in_transaction:
            self._depth += 1
            name = f"nested{self._depth}"
            self.db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                raise
            finally:
                self._depth -= 1
            self.db.execute(f"RELEASE {name}")
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- messages -----------------------------------------------------------
    def seen(self, source: str, source_key: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM messages WHERE source = ? AND source_key = ?", (source, source_key)
        ).fetchone()
        return row

    def record_message(
        self,
        *,
        source: str,
        source_key: str,
        kind: str,
        received: datetime,
        message_id: str | None = None,
        reason: str | None = None,
        subject: str | None = None,
        sender: str | None = None,
        raw: bytes | None = None,
        request: int | None = None,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO messages(source, source_key, message_id, kind, request, reason, subject,"
            " sender, received, recorded, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (source, source_key, message_id, kind, request, reason, subject, sender,
             _ts(received), _ts(now()), raw),
        )
        return int(cur.lastrowid or 0)

    def twin_of(self, request: Request, within: timedelta) -> int | None:
        """The same request received recently through the OTHER channel (mail vs trigger).

        The trigger script both mails aog@ and writes a trigger file: one request,
        two arrivals. Only a request that has no twin yet is matched.
        """
        row = self.db.execute(
            "SELECT r.id FROM requests r WHERE r.mous = ? AND r.ticket = ? AND r.calfields = ?"
            " AND LOWER(TRIM(r.user_email)) = ? AND json_extract(r.origin, '$.channel') != ?"
            " AND r.received >= ?"
            " AND NOT EXISTS (SELECT 1 FROM messages t WHERE t.request = r.id)"
            " ORDER BY r.id DESC LIMIT 1",
            (request.mous, request.ticket, ",".join(request.calfields),
             request.user_email.strip().lower(), request.origin.channel,
             _ts(request.received - within)),
        ).fetchone()
        return None if row is None else int(row[0])

    def mark_message(self, message: int) -> None:
        self.db.execute("UPDATE messages SET marked = 1 WHERE id = ?", (message,))

    def unmarked(self, source: str) -> list[sqlite3.Row]:
        """Requests recorded but whose source mail was not yet flagged/moved (a crash)."""
        return list(
            self.db.execute(
                "SELECT * FROM messages WHERE source = ? AND marked = 0 "
                "AND kind IN ('request', 'twin', 'malformed')",
                (source,),
            )
        )

    def malformed_from(self, sender: str, since: datetime) -> int:
        """How many malformed mails this sender sent since `since`."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM messages WHERE kind = 'malformed' AND LOWER(sender) = ?"
            " AND received >= ?", (sender.lower(), _ts(since))).fetchone()
        return int(row[0])

    def message(self, message_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise KeyError(f"no mail {message_id} in the journal")
        return row

    def set_reason(self, message_id: int, reason: str) -> None:
        self.db.execute("UPDATE messages SET reason = ? WHERE id = ?", (reason, message_id))

    def forget_message(self, message_id: int) -> None:
        self.db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def shunted(self, kind: str = "shunted") -> list[sqlite3.Row]:
        """Mail kept with its bytes for AOG: shunted (the bot failed) or untrusted."""
        return list(self.db.execute(
            "SELECT * FROM messages WHERE kind = ? ORDER BY id", (kind,)))

    def failed_jobs(self) -> list[sqlite3.Row]:
        """Failed stagings not yet retried (a retry is a later job of the same request)."""
        return list(self.db.execute(
            "SELECT j.*, r.ticket, r.mous, r.project FROM jobs j JOIN requests r"
            " ON r.id = j.request WHERE j.state = 'failed' AND NOT EXISTS"
            " (SELECT 1 FROM jobs later WHERE later.request = j.request AND later.id > j.id)"
            " ORDER BY j.id"))

    def finished_triggers(self) -> list[tuple[int, str]]:
        """Trigger files whose request is over and whose mails have all left."""
        rows = self.db.execute(
            "SELECT m.id, m.source_key FROM messages m"
            " LEFT JOIN requests r ON r.id = COALESCE(m.request,"
            "  (SELECT id FROM requests WHERE message = m.id))"
            " WHERE m.source = 'triggers' AND m.marked = 0"
            " AND (m.kind = 'malformed' OR r.state IN ('answered', 'completed', 'cancelled'))"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.state IN ('queued', 'held')"
            "   AND (o.request = r.id OR o.message = m.id))"
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    def messages(self, limit: int = 100) -> list[sqlite3.Row]:
        return list(
            self.db.execute("SELECT * FROM messages ORDER BY id DESC LIMIT ?", (limit,))
        )

    # -- requests -----------------------------------------------------------
    def record_request(
        self, message: int | None, request: Request, verdict: Verdict, state: str
    ) -> int:
        stamp = _ts(now())
        cur = self.db.execute(
            "INSERT INTO requests(message, mous, project, calfields, user_name, user_email,"
            " ticket, arc_contact, cc, message_id, received, origin, verdict, check_name,"
            " detail, state, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                message, request.mous, request.project, ",".join(request.calfields),
                request.user_name, request.user_email, request.ticket, request.arc_contact,
                json.dumps(list(request.cc)), request.message_id, _ts(request.received),
                _origin_json(request.origin), verdict.code.value, verdict.check,
                json.dumps(verdict.detail), state, stamp, stamp,
            ),
        )
        return int(cur.lastrowid or 0)

    def request(self, request_id: int) -> Request:
        row = self.request_row(request_id)
        return Request(
            mous=row["mous"],
            project=row["project"],
            calfields=tuple(f for f in row["calfields"].split(",") if f),
            user_name=row["user_name"],
            user_email=row["user_email"],
            ticket=row["ticket"],
            arc_contact=row["arc_contact"],
            cc=tuple(json.loads(row["cc"])),
            message_id=row["message_id"],
            received=parse_ts(row["received"]),
            origin=_origin_from_json(row["origin"]),
        )

    def request_row(self, request_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM requests WHERE id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no request {request_id}")
        return row

    def set_request_state(self, request_id: int, state: str) -> None:
        self.db.execute(
            "UPDATE requests SET state = ?, updated = ? WHERE id = ?",
            (state, _ts(now()), request_id),
        )

    def active_requests(self) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(ACTIVE_REQUEST_STATES))
        return list(
            self.db.execute(
                f"SELECT * FROM requests WHERE state IN ({marks}) ORDER BY id",
                ACTIVE_REQUEST_STATES,
            )
        )

    def requests(self, limit: int = 100) -> list[sqlite3.Row]:
        return list(
            self.db.execute(
                "SELECT r.*, j.id AS job_id, j.state AS job_state, j.started, j.finished,"
                " j.url, j.attempt FROM requests r LEFT JOIN jobs j ON j.id = ("
                "  SELECT MAX(id) FROM jobs WHERE request = r.id)"
                " ORDER BY r.id DESC LIMIT ?",
                (limit,),
            )
        )

    # -- jobs ---------------------------------------------------------------
    def add_job(self, request_id: int, command: str, attempt: int = 1) -> int:
        cur = self.db.execute(
            "INSERT INTO jobs(request, attempt, state, command, queued) VALUES (?,?,?,?,?)",
            (request_id, attempt, "waiting", command, _ts(now())),
        )
        return int(cur.lastrowid or 0)

    def job(self, job_id: int) -> JobRow:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id}")
        return _job(row, self.instance)

    def jobs(self, *states: str) -> list[JobRow]:
        marks = ",".join("?" * len(states))
        # FIFO by the time the request reached aog@, then by job id.
        rows = self.db.execute(
            f"SELECT j.* FROM jobs j JOIN requests r ON r.id = j.request"
            f" WHERE j.state IN ({marks}) ORDER BY r.received, j.id",
            states,
        )
        return [_job(r, self.instance) for r in rows]

    def job_mous(self, job: JobRow) -> str:
        return str(self.request_row(job.request)["mous"])

    def update_job(self, job_id: int, **values: Any) -> None:
        allowed = {
            "state", "command", "job_dir", "pid", "started", "finished", "exit_status", "output",
            "url", "deletion_date", "total_bytes", "problems",
        }
        if not values or set(values) - allowed:
            raise ValueError(f"bad job columns: {sorted(values)}")
        sets = ", ".join(f"{k} = ?" for k in values)
        args = [_ts(v) if isinstance(v, datetime) else v for v in values.values()]
        self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*args, job_id))

    # -- outbox -------------------------------------------------------------
    def enqueue(
        self, mail: OutgoingMail, *, request: int | None, job: int | None, held: bool,
        message: int | None = None,
    ) -> int | None:
        """Queue a mail; a mail with the same Message-ID is queued only once."""
        cur = self.db.execute(
            "INSERT INTO outbox(message_id, kind, message, request, job, mail_from, rcpt_to,"
            " subject, data, state, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(message_id) DO NOTHING",
            (
                mail.message_id, mail.kind, message, request, job, mail.mail_from,
                json.dumps(list(mail.rcpt_to)), mail.subject, mail.data,
                "held" if held else "queued", _ts(now()),
            ),
        )
        return int(cur.lastrowid or 0) if cur.rowcount else None

    def outbox(self, *states: str) -> list[OutboxRow]:
        if states:
            marks = ",".join("?" * len(states))
            rows = self.db.execute(
                f"SELECT * FROM outbox WHERE state IN ({marks}) ORDER BY id", states
            )
        else:
            rows = self.db.execute("SELECT * FROM outbox ORDER BY id")
        return [_outbox(r) for r in rows]

    def outbox_mail(self, mail_id: int) -> OutboxRow:
        row = self.db.execute("SELECT * FROM outbox WHERE id = ?", (mail_id,)).fetchone()
        if row is None:
            raise KeyError(f"no outgoing mail {mail_id}")
        return _outbox(row)

    def mark_sent(self, mail_id: int, note: str | None = None) -> None:
        """Sent; `note` keeps what AOG should know (e.g. recipients the server refused)."""
        self.db.execute(
            "UPDATE outbox SET state = 'sent', sent = ?, attempts = attempts + 1, error = ?"
            " WHERE id = ?",
            (_ts(now()), note, mail_id),
        )

    def mark_attempt_failed(self, mail_id: int, error: str, *, permanent: bool) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, error = ?, state = ? WHERE id = ?",
            (error, "failed" if permanent else "queued", mail_id),
        )

    def mark_copied(self, mail_id: int) -> None:
        self.db.execute("UPDATE outbox SET copied = 1 WHERE id = ?", (mail_id,))

    def set_outbox_state(self, mail_id: int, state: str, *, only_from: Sequence[str]) -> bool:
        marks = ",".join("?" * len(only_from))
        cur = self.db.execute(
            f"UPDATE outbox SET state = ? WHERE id = ? AND state IN ({marks})",
            (state, mail_id, *only_from),
        )
        return cur.rowcount == 1

    # -- IMAP watermark -----------------------------------------------------
    def watermark(self, folder: str) -> tuple[int, int] | None:
        row = self.db.execute(
            "SELECT uidvalidity, last_uid FROM imap_state WHERE folder = ?", (folder,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def set_watermark(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.db.execute(
            "INSERT INTO imap_state(folder, uidvalidity, last_uid) VALUES (?,?,?)"
            " ON CONFLICT(folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
            " last_uid = MAX(CASE WHEN imap_state.uidvalidity = excluded.uidvalidity"
            " THEN imap_state.last_uid ELSE 0 END, excluded.last_uid)",
            (folder, uidvalidity, last_uid),
        )


def _job(row: sqlite3.Row, instance: str) -> JobRow:
    return JobRow(
        instance=instance,
        id=row["id"], request=row["request"], attempt=row["attempt"], state=row["state"],
        command=row["command"], job_dir=row["job_dir"], pid=row["pid"], queued=row["queued"],
        started=row["started"], finished=row["finished"], exit_status=row["exit_status"],
        output=row["output"], url=row["url"],
    )


def _outbox(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"], message_id=row["message_id"], kind=row["kind"], request=row["request"],
        job=row["job"], mail_from=row["mail_from"], rcpt_to=tuple(json.loads(row["rcpt_to"])),
        subject=row["subject"], data=bytes(row["data"]), state=row["state"],
        created=row["created"], sent=row["sent"], attempts=row["attempts"], error=row["error"],
        copied=bool(row["copied"]),
    )
