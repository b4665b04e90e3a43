"""Requests: what was asked, the verdict, and where the request stands."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailbot.clock import parse_stamp, stamp
from mailbot.journal.db import Store, marks
from mailbot.journal.evidence import record_basis
from mailbot.states import ACTIVE_REQUEST_STATES, JobState, RequestState

if TYPE_CHECKING:  # the model and the records are imported where one is built (`records`)
    from mailbot.journal.records import RequestRecord, RequestStatus
    from mailbot.model import Origin, Request, Verdict


class RequestLog(Store):
    def record_request(
        self, message: int | None, request: Request, verdict: Verdict, state: RequestState
    ) -> int:
        now = self._stamp_now()
        cur = self.db.execute(
            "INSERT INTO requests(message, mous, project, calfields, user_name, user_email,"
            " ticket, arc_contact, cc, message_id, received, origin, verdict, check_name,"
            " detail, state, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                message, request.mous, request.project, ",".join(request.calfields),
                request.user_name, request.user_email, request.ticket, request.arc_contact,
                json.dumps(list(request.cc)), request.message_id, stamp(request.received),
                _origin_json(request.origin), verdict.code.value, verdict.check,
                json.dumps(verdict.detail), state, now, now,
            ),
        )
        request_id = int(cur.lastrowid or 0)
        record_basis(self.db, request_id, verdict)
        return request_id

    def request(self, request_id: int) -> Request:
        """The request as it was parsed, to render replies and staging commands from."""
        row = self._request_row(request_id)
        from mailbot.model import Request

        return Request(
            mous=row["mous"],
            project=row["project"],
            calfields=_calfields(row["calfields"]),
            user_name=row["user_name"],
            user_email=row["user_email"],
            ticket=row["ticket"],
            arc_contact=row["arc_contact"],
            cc=tuple(json.loads(row["cc"])),
            message_id=row["message_id"],
            received=parse_stamp(row["received"]),
            origin=_origin_from_json(row["origin"]),
        )

    def request_record(self, request_id: int) -> RequestRecord:
        return _request(self._request_row(request_id))

    def _request_row(self, request_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM requests WHERE id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no request {request_id}")
        return row

    def set_request_state(self, request_id: int, state: RequestState) -> None:
        self.db.execute(
            "UPDATE requests SET state = ?, updated = ? WHERE id = ?",
            (state, self._stamp_now(), request_id),
        )

    def active_requests(self) -> list[RequestRecord]:
        """The requests still being served (what a repeat is a duplicate of), oldest first."""
        rows = self.db.execute(
            f"SELECT * FROM requests WHERE state IN ({marks(ACTIVE_REQUEST_STATES)}) ORDER BY id",
            ACTIVE_REQUEST_STATES,
        )
        return [_request(r) for r in rows]

    def requests(self, limit: int | None = 100) -> list[RequestStatus]:
        """The latest requests first (all of them without a limit), with their latest job."""
        rows = self.db.execute(
            "SELECT r.*, j.id AS job_id, j.state AS job_state, j.started, j.finished,"
            " j.url, j.attempt FROM requests r LEFT JOIN jobs j ON j.id = ("
            "  SELECT MAX(id) FROM jobs WHERE request = r.id)"
            " ORDER BY r.id DESC LIMIT ?",
            (-1 if limit is None else limit,),  # SQLite: a negative LIMIT is none
        )
        return [_status(r) for r in rows]


def _calfields(text: str) -> tuple[str, ...]:
    return tuple(f for f in text.split(",") if f)


def _request(row: sqlite3.Row) -> RequestRecord:
    from mailbot.journal.records import RequestRecord

    return RequestRecord(**_request_fields(row))


def _request_fields(row: sqlite3.Row) -> dict[str, Any]:
    return dict(
        id=row["id"], message=row["message"], ticket=row["ticket"], mous=row["mous"],
        project=row["project"], calfields=_calfields(row["calfields"]),
        user_email=row["user_email"], received=row["received"], verdict=row["verdict"],
        check=row["check_name"],
        state=RequestState(row["state"]), created=row["created"], updated=row["updated"],
    )


def _status(row: sqlite3.Row) -> RequestStatus:
    from mailbot.journal.records import RequestStatus

    job_state = row["job_state"]
    return RequestStatus(
        **_request_fields(row), job_id=row["job_id"], attempt=row["attempt"],
        job_state=None if job_state is None else JobState(job_state),
        started=row["started"], finished=row["finished"], url=row["url"],
    )


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
    from mailbot.model import Origin

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
