"""`mailbot reprocess`: a shunted or untrusted mail handled again from its stored bytes."""

from __future__ import annotations

from collections.abc import Callable

from mailbot.archive import Archive, open_archive
from mailbot.clock import SYSTEM, Clock, parse_stamp
from mailbot.config import Config
from mailbot.errors import MailbotError
from mailbot.inbox import Incoming
from mailbot.journal import Journal
from mailbot.run.intake import Intake
from mailbot.run.loop import single_instance
from mailbot.run.planning import channel_of
from mailbot.states import MessageKind

KEPT = (MessageKind.SHUNTED, MessageKind.UNTRUSTED, MessageKind.REUSED, MessageKind.KEPT)


class _StillBroken(Exception):
    """The shunted mail fails again: undo the attempt."""


def reprocess(config: Config, message_id: int, *,
              archive_factory: Callable[[], Archive] | None = None,
              clock: Clock = SYSTEM) -> str:
    """Handle a kept mail again from its stored bytes: a shunted one after the fault was
    fixed, an untrusted one after its sender became an ARC contact, one that reuses an
    earlier mail's Message-ID once AOG judged it genuine.

    One transaction: the shunted record is replaced by the new outcome, or stays
    when the archive is down; the next run flags the mail in its mailbox.
    """
    with single_instance(config.path(config.mailbot.lock_file)):
        journal = Journal(config.path(config.mailbot.journal), clock)
        intake = Intake(config, journal, archive_factory or (lambda: open_archive(config)),
                        clock)
        try:
            return _again(journal, intake, message_id)
        finally:
            intake.close()
            journal.close()


def _again(journal: Journal, intake: Intake, message_id: int) -> str:
    row = journal.message(message_id)
    if row.kind not in KEPT:
        raise MailbotError(f"mail {message_id} is {row.kind}, not "
                           f"{', '.join(k.value for k in KEPT)}")
    incoming = Incoming(row.source, row.source_key, row.raw or b"",
                        parse_stamp(row.received), channel_of(row.source),
                        message_id=row.message_id, digest=row.digest)
    try:
        with journal.transaction():
            journal.forget_message(message_id)
            intake.handle(incoming, again=True)
            outcome = journal.seen(incoming.source, incoming.key)
            assert outcome is not None
            if outcome.kind == row.kind:
                raise _StillBroken(outcome.reason)
            journal.repoint_copies(message_id, outcome.id)
    except _StillBroken as exc:
        # Keep the original record (AOG knows it by its id), with the new reason.
        with journal.transaction():
            journal.set_reason(message_id, str(exc))
        return str(row.kind)
    return str(outcome.kind)
