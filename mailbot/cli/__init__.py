"""The `mailbot` command line (`mailbot.cli:main` is the console script).

`registry` holds the declarations, the handler modules (`runs`, `outbox`,
`attention`, `jobs`, `report`, `setup`) declare each command next to its handler, and
`main` builds the parser from them and turns faults into exit codes.

Every start imports every handler module (the parser needs all the declarations),
so they stay light: a handler imports the settings, the journal, the archive or a
server library when it runs (`explain`'s work is in `explaining` for that reason),
and `mailbot --version` or `--help` loads none of them.
"""

from mailbot.cli.main import commands_table, main

__all__ = ["commands_table", "main"]
