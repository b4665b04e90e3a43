"""What each request was judged on: the archive's facts, the day, the checks it passed.

Kept with the request (migration 4) so that `mailbot explain REQ` answers "why did
the bot say that?" for any past request from what the bot saw then, not from what
the archive says today.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import TYPE_CHECKING, Any

from mailbot.journal.db import Store

if TYPE_CHECKING:  # the model and the records are imported where one is built (`records`)
    from mailbot.journal.records import JudgedOn
    from mailbot.model import Facts, Verdict


def record_basis(db: sqlite3.Connection, request_id: int, verdict: Verdict) -> None:
    """Keep what `verdict` was judged on with request `request_id` (in the caller's transaction)."""
    db.execute(
        "UPDATE requests SET facts = ?, day = ?, passed = ? WHERE id = ?",
        (None if verdict.facts is None else facts_json(verdict.facts),
         None if verdict.day is None else verdict.day.isoformat(),
         " ".join(verdict.passed), request_id),
    )


class EvidenceLog(Store):
    def judged_on(self, request_id: int) -> JudgedOn:
        """What request `request_id` was judged on (KeyError when there is no such request)."""
        try:
            row = self.db.execute("SELECT facts, day, passed, detail FROM requests WHERE id = ?",
                                  (request_id,)).fetchone()
        except sqlite3.OperationalError:
            # A journal of before migration 4, read without migrating: nothing was kept.
            row = self.db.execute("SELECT NULL AS facts, NULL AS day, NULL AS passed, detail"
                                  " FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            raise KeyError(f"no request {request_id}")
        from mailbot.journal.records import JudgedOn

        return JudgedOn(
            facts=None if row["facts"] is None else facts_from_json(row["facts"]),
            day=None if row["day"] is None else date.fromisoformat(row["day"]),
            passed=tuple((row["passed"] or "").split()),
            detail={str(k): str(v) for k, v in json.loads(row["detail"] or "{}").items()},
        )


def facts_json(facts: Facts) -> str:
    """`facts` as the journal keeps them."""
    return json.dumps({
        "entitlement": [[r.project_code, r.role, r.email] for r in facts.entitlement],
        "state": facts.state,
        "qa0_pass": facts.qa0_pass,
        "fields": [[name, flag] for name, flag in facts.fields],
        "release_date": _day(facts.release_date),
        "field_rows": [[r.name, r.is_calibrator, r.intents] for r in facts.field_rows],
        "release_rows": [[r.delivery, _day(r.release_date)] for r in facts.release_rows],
    }, ensure_ascii=False)


def facts_from_json(text: str) -> Facts:
    """The `Facts` that `facts_json` wrote."""
    from mailbot.model import EntitlementRow, Facts, FieldRow, ReleaseRow

    d: dict[str, Any] = json.loads(text)
    return Facts(
        entitlement=tuple(EntitlementRow(*row) for row in d["entitlement"]),
        state=d["state"],
        qa0_pass=int(d["qa0_pass"]),
        fields=tuple((str(name), bool(flag)) for name, flag in d["fields"]),
        release_date=_undate(d["release_date"]),
        field_rows=tuple(FieldRow(name, bool(flag), intents)
                         for name, flag, intents in d["field_rows"]),
        release_rows=tuple(ReleaseRow(name, _undate(day)) for name, day in d["release_rows"]),
    )


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _undate(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)
