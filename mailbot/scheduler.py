"""Staging jobs over time: poll running ones, start waiting ones (at most `slots` at once).

A job is launched at most once: its remote directory is created atomically by
`stage.launch`, and launching an existing one only reports the recorded pid,
so a crash between launch and journal commit is repaired by the next run.
Never two running jobs for the same MOUS: the later one waits and then profits
from stagecalms' hard-link reuse of the first one's MSs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from mailbot import reply, stage
from mailbot.config import Config
from mailbot.errors import MailbotError
from mailbot.journal import JobRow, Journal, now
from mailbot.model import OutgoingMail, StagingResult
from mailbot.outbox import held_kind

log = logging.getLogger(__name__)

JOB_STATES = ("waiting", "running", "succeeded", "failed", "cancelled")


@dataclass
class StepReport:
    started: list[int] = field(default_factory=list)
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    running: int = 0
    waiting: int = 0


def has_work(journal: Journal) -> bool:
    return bool(journal.jobs("waiting", "running"))


def step(config: Config, journal: Journal, transport: stage.Transport) -> StepReport:
    """One scheduling pass: finish what ended, then fill the free slots.

    A fault of the staging host (SshError) ends the pass where it happens: what
    was recorded stays recorded, the job being launched and every later one stay
    waiting, and the next run carries on (a launch that did reach the host is
    found there again by its job name, never started twice).
    """
    report = StepReport()
    for job in journal.jobs("running"):
        _poll(config, journal, transport, job, report)
    running = journal.jobs("running")
    busy = {journal.job_mous(j) for j in running}
    free = config.staging.slots - len(running)
    for job in journal.jobs("waiting"):
        if free <= 0:
            break
        mous = journal.job_mous(job)
        if mous in busy:
            continue  # the MOUS's running staging first; then this one reuses its MSs
        if not _start(config, journal, transport, job):
            continue
        report.started.append(job.id)
        busy.add(mous)
        free -= 1
    report.running = len(journal.jobs("running"))
    report.waiting = len(journal.jobs("waiting"))
    return report


def _start(config: Config, journal: Journal, transport: stage.Transport, job: JobRow) -> bool:
    """Launch a waiting job; False when it stopped waiting meanwhile (`mailbot cancel`)."""
    # `mailbot cancel` does not wait for the run's lock: read the job afresh, so a
    # job cancelled since this pass listed it is not launched.
    if journal.job(job.id).state != "waiting":
        return False
    # Built now, from the settings in force: a fixed staging.command reaches jobs
    # that were queued (or retried) while it was wrong.
    command = stage.command_line(stage.stagecalms_argv(config, journal.request(job.request)))
    launched = stage.launch(transport, stage.jobs_dir(config), job.name, command,
                            timeout=config.staging.ssh.command_timeout)
    with journal.transaction():
        cancelled = journal.job(job.id).state == "cancelled"
        # Whatever was asked meanwhile, the staging now runs: record the truth, so
        # that its slot and its MOUS stay taken and its result is mailed.
        journal.update_job(job.id, state="running", job_dir=launched.job_dir,
                           pid=launched.pid, started=now(), command=command)
        if cancelled:
            journal.set_request_state(job.request, "staging")
    if cancelled:
        log.warning("job %d was cancelled while it was being launched; it runs", job.id)
    log.info("job %d %s (%s, pid %d): %s", job.id,
             "started" if launched.started else "found already started on the staging host",
             job.name, launched.pid, command)
    return True


def _poll(config: Config, journal: Journal, transport: stage.Transport, job: JobRow,
          report: StepReport) -> None:
    assert job.job_dir is not None and job.pid is not None
    status = stage.poll(transport, stage.LaunchedJob(job.job_dir, job.pid),
                        timeout=config.staging.ssh.command_timeout)
    if not status.finished:
        return
    expected = stage.Expected.of(journal.request(job.request))
    result = stage.parse_output(status.output, status.exit_status, expected)
    finish(config, journal, job, status.output, result)
    (report.succeeded if result.ok else report.failed).append(job.id)


def finish(config: Config, journal: Journal, job: JobRow, output: str,
           result: StagingResult) -> None:
    """Record a job's end and queue its mail, in one transaction."""
    request = journal.request(job.request)
    mail: OutgoingMail
    if result.ok:
        mail = reply.render_completion(config, request, result,
                                       key=f"{journal.instance}:request:{job.request}",
                                       queued_at=now())
    else:
        mail = reply.render_failure(
            config, request, command=job.command, output=output, result=result,
            job_name=f"{job.id}", key=f"{journal.instance}:job:{job.id}:attempt:{job.attempt}",
            queued_at=now(),
        )
    with journal.transaction():
        journal.update_job(
            job.id, state="succeeded" if result.ok else "failed", finished=now(),
            exit_status=result.exit_status, output=output, url=result.url,
            deletion_date=result.deletion_date, total_bytes=result.total_bytes,
            problems=json.dumps(list(result.problems)),
        )
        journal.set_request_state(job.request, "completed" if result.ok else "failed")
        journal.enqueue(mail, request=job.request, job=job.id, held=held_kind(config, mail.kind))
    log.info("job %d %s%s", job.id, "succeeded: " if result.ok else "failed: ",
             result.url if result.ok else "; ".join(result.problems))


def retry(journal: Journal, job_id: int) -> int:
    """Queue a new attempt of a failed job; returns the new job's id.

    Only the request's latest attempt is retried: retrying an older one (or the
    same one twice) would stage the MOUS again for a request already served.
    """
    with journal.transaction():
        job = journal.job(job_id)
        if job.state not in ("failed", "cancelled"):
            raise MailbotError(
                f"job {job_id} is {job.state}; only failed or cancelled jobs are retried")
        later = [j for j in journal.jobs(*JOB_STATES)
                 if j.request == job.request and j.id > job.id]
        if later:
            raise MailbotError(
                f"job {job_id} was already retried as job {later[-1].id} ({later[-1].state})")
        new_id = journal.add_job(job.request, job.command, attempt=job.attempt + 1)
        journal.set_request_state(job.request, "staging")
    return new_id


def cancel(journal: Journal, job_id: int) -> None:
    """Stop a job that is still waiting (a running stagecalms is not interrupted)."""
    with journal.transaction():
        job = journal.job(job_id)
        if job.state != "waiting":
            raise MailbotError(
                f"job {job_id} is {job.state}; only waiting jobs can be cancelled")
        journal.update_job(job_id, state="cancelled", finished=now())
        journal.set_request_state(job.request, "cancelled")

