"""Staging jobs over time: poll running ones, start waiting ones (at most `slots` at once).

A job is launched at most once: `stage.launch` is safe to repeat (the job's
own `mkdir started` lets one start through), so a crash anywhere between launch
and journal commit is repaired by the next run. A job whose directory shows no
pid yet is in doubt, never taken for dead: it keeps its slot and its MOUS, and
`retry` of its MOUS is refused, until its directory shows it alive or finished.
Never two running jobs for the same MOUS: the later one waits and then profits
from stagecalms' hard-link reuse of the first one's MSs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailbot import faults, reply, stage
from mailbot.errors import MailbotError
from mailbot.states import JobState, RequestState

if TYPE_CHECKING:  # what a staging to poll or start needs is imported when there is one
    from mailbot.config import Config
    from mailbot.journal import JobRecord, Journal
    from mailbot.model import OutgoingMail, StagingResult

log = logging.getLogger(__name__)


@dataclass
class StepReport:
    started: list[int] = field(default_factory=list)
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    running: int = 0
    waiting: int = 0


def step(config: Config, journal: Journal, transport: stage.Transport) -> StepReport:
    """One scheduling pass: finish what ended, then fill the free slots.

    A fault of the staging host (SshError) ends the pass where it happens: what
    was recorded stays recorded, the job being launched and every later one stay
    waiting, and the next run carries on (a launch that did reach the host is
    found there again by its job name, never started twice).
    """
    from mailbot.stage.jobs import still_running

    report = StepReport()
    listed = journal.jobs(JobState.RUNNING)
    # One command tells which run on as before; only the others are read in full.
    steady = still_running(transport, [_launched(job) for job in listed],
                           timeout=config.staging.ssh.command_timeout) if listed else set()
    for job in listed:
        if job.job_dir not in steady:
            _poll(config, journal, transport, job, report)
    running = journal.jobs(JobState.RUNNING)
    busy = {journal.job_mous(j) for j in running}
    free = config.staging.slots - len(running)
    for job in journal.jobs(JobState.WAITING):
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
    report.running = len(journal.jobs(JobState.RUNNING))
    report.waiting = len(journal.jobs(JobState.WAITING))
    return report


def _start(config: Config, journal: Journal, transport: stage.Transport, job: JobRecord) -> bool:
    """Launch a waiting job; False when it stopped waiting meanwhile (`mailbot cancel`)."""
    # `mailbot cancel` does not wait for the run's lock: read the job afresh, so a
    # job cancelled since this pass listed it is not launched.
    if journal.job(job.id).state != JobState.WAITING:
        return False
    # Built now, from the settings in force: a fixed staging.command reaches jobs
    # that were queued (or retried) while it was wrong.
    command = stage.command_line(stage.stagecalms_argv(config, journal.request(job.request)))
    launched = stage.launch(transport, stage.jobs_dir(config), job.name, command,
                            timeout=config.staging.ssh.command_timeout)
    with journal.transaction():
        cancelled = journal.job(job.id).state == JobState.CANCELLED
        # Whatever was asked meanwhile, the staging now runs: record the truth, so
        # that its slot and its MOUS stay taken and its result is mailed.
        journal.job_launched(job.id, job_dir=launched.job_dir, pid=launched.pid,
                             command=command)
        if cancelled:
            journal.set_request_state(job.request, RequestState.STAGING)
    if cancelled:
        log.warning("job %d was cancelled while it was being launched; it runs", job.id)
    log.info("job %d %s (%s, pid %s): %s", job.id,
             "started" if launched.started else "found already started on the staging host",
             job.name, launched.pid or "not shown yet: in doubt", command)
    return True


def _launched(job: JobRecord) -> stage.LaunchedJob:
    assert job.job_dir is not None  # a running job was launched into its directory
    return stage.LaunchedJob(job.job_dir, job.pid or None)


def _poll(config: Config, journal: Journal, transport: stage.Transport, job: JobRecord,
          report: StepReport) -> None:
    status = stage.poll(transport, _launched(job), timeout=config.staging.ssh.command_timeout)
    if status.pid is not None and status.pid != job.pid:
        with journal.transaction():
            journal.job_pid_found(job.id, status.pid)
        log.info("job %d: its pid on the staging host is %d", job.id, status.pid)
    if status.unstarted:
        # Prepared by a launch that died before starting it: start it now (the job's
        # own `mkdir started` keeps it to one start, whoever else tries).
        _relaunch(config, journal, transport, job)
    if not status.finished:
        return
    expected = stage.Expected.of(journal.request(job.request))
    result = stage.parse_output(status.output, status.exit_status, expected)
    finish(config, journal, job, status.output, result)
    (report.succeeded if result.ok else report.failed).append(job.id)


def _relaunch(config: Config, journal: Journal, transport: stage.Transport,
              job: JobRecord) -> None:
    launched = stage.launch(transport, stage.jobs_dir(config), job.name, job.command,
                            timeout=config.staging.ssh.command_timeout)
    if launched.pid is not None:
        with journal.transaction():
            journal.job_pid_found(job.id, launched.pid)
    log.info("job %d started on the staging host (pid %s)", job.id, launched.pid or "not shown yet")


def finish(config: Config, journal: Journal, job: JobRecord, output: str,
           result: StagingResult) -> None:
    """Record a job's end and queue its mail, in one transaction."""
    from mailbot.outbox import held_kind

    request = journal.request(job.request)
    now = journal.clock.now()
    mail: OutgoingMail
    if result.ok:
        mail = reply.render_completion(config.reply_settings, config.templates, request,
                                       result, key=f"{journal.instance}:request:{job.request}",
                                       queued_at=now)
    else:
        mail = reply.render_failure(
            config.reply_settings, config.templates, request, command=job.command,
            output=output, result=result,
            job_name=f"{job.id}", key=f"{journal.instance}:job:{job.id}:attempt:{job.attempt}",
            queued_at=now,
        )
    with journal.transaction():
        journal.job_finished(job.id, result, output)
        journal.set_request_state(
            job.request, RequestState.COMPLETED if result.ok else RequestState.FAILED)
        journal.enqueue(mail, request=job.request, job=job.id, held=held_kind(config, mail.kind))
        faults.reached(faults.Point.FINISHING)
    log.info("job %d %s%s", job.id, "succeeded: " if result.ok else "failed: ",
             result.url if result.ok else "; ".join(result.problems))


def retry(journal: Journal, job_id: int) -> int:
    """Queue a new attempt of a failed job; returns the new job's id.

    Only the request's latest attempt is retried: retrying an older one (or the
    same one twice) would stage the MOUS again for a request already served.
    """
    with journal.transaction():
        job = journal.job(job_id)
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise MailbotError(
                f"job {job_id} is {job.state}; only failed or cancelled jobs are retried")
        later = journal.retried_as(job)
        if later is not None:
            raise MailbotError(
                f"job {job_id} was already retried as job {later.id} ({later.state})")
        _refuse_while_running(journal, job)
        new_id = journal.add_job(job.request, job.command, attempt=job.attempt + 1)
        journal.set_request_state(job.request, RequestState.STAGING)
    return new_id


def _refuse_while_running(journal: Journal, job: JobRecord) -> None:
    """A staging of the same MOUS that may still run on the host: no new attempt yet
    (it would run outside the slot limit, or stage the MOUS twice at once)."""
    mous = journal.job_mous(job)
    for other in journal.jobs(JobState.RUNNING):
        if journal.job_mous(other) == mous:
            shown = f"pid {other.pid}" if other.pid else "its pid not shown yet"
            raise MailbotError(
                f"job {other.id} of the same MOUS {mous} may still run on the staging host"
                f" ({shown}); retry job {job.id} once it has ended")


def cancel(journal: Journal, job_id: int) -> None:
    """Stop a job that is still waiting (a running stagecalms is not interrupted)."""
    with journal.transaction():
        job = journal.job(job_id)
        if job.state != JobState.WAITING:
            raise MailbotError(
                f"job {job_id} is {job.state}; only waiting jobs can be cancelled")
        journal.job_cancelled(job_id)
        journal.set_request_state(job.request, RequestState.CANCELLED)

