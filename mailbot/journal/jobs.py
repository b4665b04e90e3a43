"""Staging jobs: each attempt to stage a request's MOUS, from waiting to its end.

A job changes state only through the named steps below, each stamping its
time from the journal's clock: launched (waiting -> running), finished
(running -> succeeded/failed) and cancelled (waiting -> cancelled).
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from mailbot.journal.db import Store, marks
from mailbot.states import ACTIVE_JOB_STATES, JobState

if TYPE_CHECKING:  # the records are imported where one is built (`records`)
    from mailbot.journal.records import FailedJob, JobRecord
    from mailbot.model import StagingResult


class JobLog(Store):
    def add_job(self, request_id: int, command: str, attempt: int = 1) -> int:
        """Queue a staging of the request (it waits for a free slot)."""
        cur = self.db.execute(
            "INSERT INTO jobs(request, attempt, state, command, queued) VALUES (?,?,?,?,?)",
            (request_id, attempt, JobState.WAITING, command, self._stamp_now()),
        )
        return int(cur.lastrowid or 0)

    def job(self, job_id: int) -> JobRecord:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id}")
        return _job(row, self.instance)

    def jobs(self, *states: JobState) -> list[JobRecord]:
        # FIFO by the time the request reached aog@, then by job id.
        rows = self.db.execute(
            f"SELECT j.* FROM jobs j JOIN requests r ON r.id = j.request"
            f" WHERE j.state IN ({marks(states)}) ORDER BY r.received, j.id",
            states,
        )
        return [_job(r, self.instance) for r in rows]

    def has_active_jobs(self) -> bool:
        """Whether a staging waits or runs: the scheduler's work, asked by index."""
        row = self.db.execute(f"SELECT 1 FROM jobs WHERE state IN ({marks(ACTIVE_JOB_STATES)})"
                              " LIMIT 1", ACTIVE_JOB_STATES).fetchone()
        return row is not None

    def job_mous(self, job: JobRecord) -> str:
        row = self.db.execute("SELECT mous FROM requests WHERE id = ?", (job.request,)).fetchone()
        if row is None:
            raise KeyError(f"no request {job.request}")
        return str(row["mous"])

    def retried_as(self, job: JobRecord) -> JobRecord | None:
        """The latest attempt queued after `job` for its request; None if never retried."""
        row = self.db.execute(
            "SELECT * FROM jobs WHERE request = ? AND id > ? ORDER BY id DESC LIMIT 1",
            (job.request, job.id),
        ).fetchone()
        return None if row is None else _job(row, self.instance)

    def job_launched(self, job_id: int, *, job_dir: str, pid: int | None,
                     command: str) -> None:
        """The staging runs on the host, started by `command` (as built at launch);
        `pid` None: its job directory shows no pid yet (in doubt until it does)."""
        self.db.execute(
            "UPDATE jobs SET state = ?, job_dir = ?, pid = ?, started = ?, command = ?"
            " WHERE id = ?",
            (JobState.RUNNING, job_dir, pid, self._stamp_now(), command, job_id),
        )

    def job_pid_found(self, job_id: int, pid: int) -> None:
        """The job directory of a job in doubt now shows its pid."""
        self.db.execute("UPDATE jobs SET pid = ? WHERE id = ? AND state = ?",
                        (pid, job_id, JobState.RUNNING))

    def job_finished(self, job_id: int, result: StagingResult, output: str) -> None:
        """The staging ended: succeeded or failed as `result` says, its output kept."""
        self.db.execute(
            "UPDATE jobs SET state = ?, finished = ?, exit_status = ?, output = ?, url = ?,"
            " deletion_date = ?, total_bytes = ?, problems = ?, reused = ?, ebs = ?"
            " WHERE id = ?",
            (JobState.SUCCEEDED if result.ok else JobState.FAILED, self._stamp_now(),
             result.exit_status, output, result.url, result.deletion_date, result.total_bytes,
             json.dumps(list(result.problems)), len(result.reused), len(result.ebs), job_id),
        )

    def job_cancelled(self, job_id: int) -> None:
        self.db.execute("UPDATE jobs SET state = ?, finished = ? WHERE id = ?",
                        (JobState.CANCELLED, self._stamp_now(), job_id))

    def failed_jobs(self) -> list[FailedJob]:
        """Failed stagings not yet retried (a retry is a later job of the same request)."""
        rows = self.db.execute(
            "SELECT j.*, r.ticket, r.mous, r.project FROM jobs j JOIN requests r"
            " ON r.id = j.request WHERE j.state = ? AND NOT EXISTS"
            " (SELECT 1 FROM jobs later WHERE later.request = j.request AND later.id > j.id)"
            " ORDER BY j.id", (JobState.FAILED,))
        return [_failed(r, self.instance) for r in rows]


def _failed(row: sqlite3.Row, instance: str) -> FailedJob:
    from mailbot.journal.records import FailedJob

    return FailedJob(**vars(_job(row, instance)), ticket=row["ticket"], mous=row["mous"],
                     project=row["project"])


def _job(row: sqlite3.Row, instance: str) -> JobRecord:
    from mailbot.journal.records import JobRecord

    return JobRecord(
        instance=instance,
        id=row["id"], request=row["request"], attempt=row["attempt"],
        state=JobState(row["state"]), command=row["command"], job_dir=row["job_dir"],
        pid=row["pid"], queued=row["queued"], started=row["started"], finished=row["finished"],
        exit_status=row["exit_status"], output=row["output"], url=row["url"],
        deletion_date=row["deletion_date"], total_bytes=row["total_bytes"],
        problems=tuple(json.loads(row["problems"] or "[]")),
    )
