"""What every command handler is given: the settings, its arguments and the clock."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailbot.clock import SYSTEM, Clock
from mailbot.errors import MailbotError

if TYPE_CHECKING:  # the settings are loaded once the command is known: `--version` never
    from mailbot.config import Config
    from mailbot.journal import Journal


@dataclass(frozen=True)
class Context:
    """One call of one command."""

    config: Config
    args: argparse.Namespace
    # Ages and durations shown are measured against this, so a test can fix "now".
    clock: Clock = SYSTEM

    def has_journal(self) -> bool:
        """Whether any run recorded anything yet (a fresh home has no journal file)."""
        return self.config.path(self.config.mailbot.journal).exists()

    @contextmanager
    def journal(self) -> Iterator[Journal]:
        """The journal for one command; an unknown id is one clear line, not a traceback."""
        from mailbot.journal import Journal

        journal = Journal(self.config.path(self.config.mailbot.journal))
        try:
            yield journal
        except KeyError as exc:
            raise MailbotError(str(exc.args[0])) from None
        finally:
            journal.close()
