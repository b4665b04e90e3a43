"""`mailbot`'s parser and `main`: the only place that turns faults into messages and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailbot import __version__

# Importing the handler modules registers their commands. They import what their
# handlers use only when those run, so that building the parser (all `--version` and
# `--help` need) costs no settings, journal or server library.
from mailbot.cli import attention, explain, jobs, outbox, report, runs, setup, shadow, status  # noqa: F401
from mailbot.cli.registry import COMMANDS, GROUPS, Command
from mailbot.cli.registry import commands_table as _table
from mailbot.clock import SYSTEM, Clock
from mailbot.errors import AlreadyRunning, ConfigError, MailbotError

if TYPE_CHECKING:
    from mailbot.config import Config

# The order `mailbot --help` (and the README) lists the commands in; a command
# missing here fails the first parse loudly.
ORDER = ("run", "watch", "init", "check", "explain", "outbox", "report", "attention",
         "reprocess", "requests", "retry", "cancel", "status", "shadow-report", "archive", "demo")


CONFIG_HELP = "TOML settings file (default: $MAILBOT_CONFIG, else the embedded setup)"


def commands() -> list[Command]:
    """Every command in the order of `mailbot --help`, a group's actions in declared order."""
    return sorted(COMMANDS.values(), key=lambda c: ORDER.index(c.name.split()[0]))


def commands_table() -> str:
    """The README's commands table (markdown), generated from the commands' declarations."""
    return _table(commands())


def parser() -> argparse.ArgumentParser:
    """`mailbot`'s parser; each command's parser is told its handler (`spec`)."""
    p = argparse.ArgumentParser(
        prog="mailbot",
        description="Serves requests for calibrated ALMA MSs that arrive in the aog@ mailbox.",
    )
    p.add_argument("--version", action="version", version=f"mailbot {__version__}")
    p.add_argument("-c", "--config", help=CONFIG_HELP)
    p.add_argument("-v", "--verbose", action="store_true", help="show every step on stderr too")
    # `mailbot run --config F` works as well as `mailbot --config F run`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    top = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    actions: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for cmd in commands():
        first, _, action = cmd.name.partition(" ")
        if action and first not in actions:
            grouping = top.add_parser(first, parents=[common], help=GROUPS[first].help,
                                      description=GROUPS[first].help)
            actions[first] = grouping.add_subparsers(dest="action", required=True,
                                                     metavar="ACTION")
        where = actions[first] if action else top
        # `mailbot run --help` says what the command does, not only its options.
        leaf = where.add_parser(action or first, parents=[common], help=cmd.help,
                                description=cmd.help)
        for arg in cmd.args:
            leaf.add_argument(*arg.names, **arg.options)
        leaf.set_defaults(spec=cmd)
    return p


def main(argv: Sequence[str] | None = None, *, clock: Clock = SYSTEM) -> int:
    args = parser().parse_args(argv)
    # Only a command to run needs these: `--version` and `--help` have ended above.
    import logging

    from mailbot import config as cfg
    from mailbot.cli.context import Context

    log = logging.getLogger("mailbot")
    cmd: Command = args.spec
    try:
        config = cfg.load(args.config)
        if cmd.log_file:  # run and watch write the journal, lock and log: say now if they can't
            _make_dirs(config)
        _setup_logging(config, verbose=args.verbose, to_file=cmd.log_file)
        return cmd.handler(Context(config, args, clock))
    except AlreadyRunning as exc:
        log.info("%s", exc)
        return exc.exit_status
    except MailbotError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        if logging.getLogger().handlers:  # none yet when the settings did not load
            log.error("%s", exc, extra={"file_only": True})
        return exc.exit_status
    except BrokenPipeError:
        # `mailbot requests | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


def _make_dirs(config: Config) -> None:
    """Create the directories of the journal, lock and log file, or say what to fix."""
    settings = {"journal": config.mailbot.journal, "lock_file": config.mailbot.lock_file,
                "log_file": config.mailbot.log_file}
    for key, value in settings.items():
        if not value:
            continue
        directory = config.path(value).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create {directory} for mailbot.{key}: {exc.strerror or exc}; create "
                "it for this user (see contrib/setup.sh) or set mailbot.data_dir"
            ) from None


def _setup_logging(config: Config, *, verbose: bool, to_file: bool) -> None:
    """Warnings to stderr (INFO and up with -v); the steps of runs to the log file."""
    import logging

    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.INFO if verbose else logging.WARNING)
    stderr.setFormatter(fmt)
    # The CLI prints a fatal error as one plain line itself; the log file gets it too.
    stderr.addFilter(lambda record: not getattr(record, "file_only", False))
    root.addHandler(stderr)
    for noisy in ("paramiko", "asyncio", "imapclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if to_file and config.mailbot.log_file:
        path = config.path(config.mailbot.log_file)
        try:
            file = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write mailbot.log_file {path}: {exc.strerror or exc}; "
                              "give this user write permission, or set mailbot.log_file") from None
        file.setLevel(config.mailbot.log_level.upper())
        file.setFormatter(fmt)
        root.addHandler(file)
