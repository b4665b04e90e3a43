"""The commands of `mailbot`, each declared next to its handler with its arguments.

A handler module says, above each handler,

    @command("outbox show", help="...", args=(Arg("id", type=int, metavar="ID"),))

and the parser (`mailbot.cli.main`), `mailbot --help` and the README's commands
table (`commands_table`) are all read from here, so they cannot disagree.
A name of two words is an action of a group (`outbox`, `archive`) declared with
`group`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from mailbot.cli.context import Context

    Handler = Callable[[Context], int]


class Arg:
    """One argument of a command, exactly as `argparse.ArgumentParser.add_argument` takes it."""

    def __init__(self, *names: str, **options: Any) -> None:
        self.names = names
        self.options = options

    @property
    def positional(self) -> bool:
        return not self.names[0].startswith("-")

    def synopsis(self) -> str:
        """How a usage line writes it: `FILE...`, `[PATH]`, `[--json]`, `[--state STATE]...`."""
        nargs, action = self.options.get("nargs"), self.options.get("action")
        if self.positional:
            meta = str(self.options.get("metavar") or self.names[0].upper())
            forms = {"+": f"{meta}...", "?": f"[{meta}]", "*": f"[{meta}...]"}
            return forms.get(str(nargs), meta)
        flag = max(self.names, key=len)
        if action in ("store_true", "store_false"):
            return f"[{flag}]"
        meta = self.options.get("metavar") or flag.lstrip("-").upper().replace("-", "_")
        return f"[{flag} {meta}]" + ("..." if action == "append" else "")


# Command and Group are NamedTuples, frozen records as dataclasses are, because every
# start reads them: `dataclasses` (with `inspect`) would be a fifth of `--version`'s cost.
class Command(NamedTuple):
    """A command: its name (`"outbox list"` for a group's action), help, arguments, handler."""

    name: str
    help: str
    args: tuple[Arg, ...]
    # Given the settings, the parsed arguments and the clock; returns the exit status.
    handler: Handler
    # run and watch are what cron and the service call: their steps go to mailbot.log_file.
    log_file: bool = False

    def synopsis(self) -> str:
        """`mailbot check FILE... [--json] ...`: positionals first, as a reader types them."""
        ordered = [a for a in self.args if a.positional] + [a for a in self.args
                                                            if not a.positional]
        return " ".join(["mailbot", self.name, *(a.synopsis() for a in ordered)])


class Group(NamedTuple):
    """A command that only groups actions (`mailbot outbox list|show|...`)."""

    name: str
    help: str


COMMANDS: dict[str, Command] = {}
GROUPS: dict[str, Group] = {}


def command(name: str, *, help: str, args: tuple[Arg, ...] = (),
            log_file: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated handler as `mailbot NAME`; the handler itself is unchanged."""

    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"command {name!r} declared twice")
        COMMANDS[name] = Command(name=name, help=help, args=args, handler=handler,
                                 log_file=log_file)
        return handler

    return register


def group(name: str, *, help: str) -> None:
    """Declare `mailbot NAME ACTION`; its actions are commands named "NAME ACTION"."""
    GROUPS[name] = Group(name, help)


def _cell(text: str) -> str:
    # A bare "|" would end the cell of a markdown table.
    return " ".join(text.split()).replace("|", "\\|")


def commands_table(commands: list[Command]) -> str:
    """The README's commands table: one row per command, its synopsis and its help."""
    rows = ["| command | what it does |", "|---|---|"]
    rows += [f"| `{c.synopsis()}` | {_cell(c.help)} |" for c in commands]
    return "\n".join(rows) + "\n"
