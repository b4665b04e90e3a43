"""What `plan()` is given at the edge: the grammar per channel, the journal's and archive's
knowledge, and the rules read from the settings. Shared by a run and `mailbot check`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailbot import stage
from mailbot.inbox.base import Channel
from mailbot.journal import LIMITED_KINDS, sender_key

if TYPE_CHECKING:  # a run makes its `Ledger` at once, and needs the rest with its first mail
    from mailbot.archive import Archive
    from mailbot.clock import Clock
    from mailbot.config import Config
    from mailbot.decide import ActiveRequest
    from mailbot.inbox import Incoming
    from mailbot.journal import Journal
    from mailbot.model import Facts, Malformed, OutgoingMail, Parsed, Request
    from mailbot.plan import Rules
    from mailbot.states import MessageKind

# How far apart the mail and the trigger file of one request may arrive (AOG's
# trigger cron ran hourly).
TWIN_WINDOW = timedelta(days=2)


# The grammar, the text decoding and the replies are imported with the first mail: an
# idle run (cron's every few minutes) never pays for their regular expressions.


def _parse_mail(incoming: Incoming, config: Config) -> Parsed:
    from mailbot import grammar

    return grammar.parse_message(incoming.raw, received=incoming.received,
                                 own_addresses=config.own_addresses,
                                 loop_header=config.replies.loop_header,
                                 own_id_domains=frozenset({config.message_id_domain}),
                                 authserv_id=config.inbox.authserv_id)


def _parse_trigger(incoming: Incoming, config: Config) -> Parsed:
    from mailbot import grammar, textmail

    return grammar.parse_trigger(textmail.decode_text_bytes(incoming.raw),
                                 received=incoming.received, file_name=incoming.key,
                                 own_addresses=config.own_addresses)


PARSERS: dict[Channel, Callable[[Incoming, Config], Parsed]] = {
    Channel.MAIL: _parse_mail,
    Channel.TRIGGER: _parse_trigger,
}


def parse(incoming: Incoming, config: Config) -> Parsed:
    """The grammar's reading of one item, by the channel it came through; an item larger
    than `limits.max_mail_bytes` is not read (the grammar's time grows with it)."""
    size, most = len(incoming.raw), config.limits.max_mail_bytes
    if size > most:
        from mailbot.model import NotARequest

        return NotARequest(f"{size} bytes, more than limits.max_mail_bytes ({most}):"
                           " not read", keep=True)
    return PARSERS[incoming.channel](incoming, config)


def channel_of(source: str) -> Channel:
    """The channel of a recorded item, by the name of the source it was read from."""
    from mailbot.inbox import TriggerSource

    return Channel.TRIGGER if source == TriggerSource.name else Channel.MAIL


class Ledger:
    """The journal's and the archive's knowledge; the archive is opened on first need."""

    def __init__(self, journal: Journal | None,
                 archive: Callable[[], Archive] | None) -> None:
        self.journal = journal
        self._open_archive = archive
        self._archive: Archive | None = None
        # A Ledger lives for one run (or one `check`, one `reprocess`): the per-run
        # limits count from here.
        self.started = None if journal is None else journal.clock.now()
        self._this_run: Counter[str] = Counter()
        self._before_run: dict[str, int] = {}

    def twin_of(self, request: Request) -> int | None:
        return None if self.journal is None else self.journal.twin_of(request, TWIN_WINDOW)

    def malformed_from(self, sender: str, since: datetime) -> int:
        return 0 if self.journal is None else self.journal.malformed_from(sender, since)

    def requests_from(self, sender: str, since: datetime | None) -> int:
        """What this run recorded of the sender's, counted as it recorded them, plus (for
        a `since` before the run) what the journal held from `since` to the run's start,
        asked once per sender: a backlog of n mails costs n counts, not n squared rows.
        The window is fixed at the sender's first mail, so a run that lasts hours counts
        a little more than 24 h: the safe side of a limit."""
        if self.journal is None or self.started is None:
            return 0
        key = sender_key(sender)
        if since is None:
            return self._this_run[key]
        if since >= self.started:  # not a window this ledger keeps
            return self.journal.requests_from(sender, since)
        if key not in self._before_run:
            self._before_run[key] = self.journal.requests_from(sender, since, self.started)
        return self._before_run[key] + self._this_run[key]

    def recorded(self, kind: MessageKind, sender: str | None) -> None:
        """A mail this run recorded: counted for the limits if it is of a kind they count."""
        if sender and kind in LIMITED_KINDS:
            self._this_run[sender_key(sender)] += 1

    def active_requests(self) -> Sequence[ActiveRequest]:
        if self.journal is None:
            return ()
        from mailbot.decide import ActiveRequest

        return [ActiveRequest(mous=r.mous, ticket=r.ticket, calfields=r.calfields,
                              user_email=r.user_email)
                for r in self.journal.active_requests()]

    def facts(self, mous: str) -> Facts | None:
        if self._open_archive is None:
            return None
        if self._archive is None:
            self._archive = self._open_archive()
        return self._archive.facts(mous)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None


def rules(config: Config, *, key: str, clock: Clock) -> Rules:
    """The plan's rules for one item; `key` makes the Message-ID of its malformed reply."""
    from mailbot.plan import Rules

    def render_malformed(malformed: Malformed) -> OutgoingMail:
        from mailbot import reply

        return reply.render_malformed(config.reply_settings, config.templates, malformed,
                                      key=key, queued_at=clock.now())

    def stage_command(request: Request) -> str:
        return stage.command_line(stage.stagecalms_argv(config, request))

    return Rules(trusted=config.arc_contact,
                 malformed_per_day=config.replies.malformed_per_day,
                 render_malformed=render_malformed, stage_command=stage_command,
                 zone=config.zone, requests_per_day=config.limits.requests_per_day,
                 requests_per_run=config.limits.requests_per_run)
