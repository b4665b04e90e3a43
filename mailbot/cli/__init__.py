"""The `mailbot` command line (`mailbot.cli:main` is the console script).

`registry` holds the declarations, the handler modules (`runs`, `outbox`,
`attention`, `jobs`, `report`, `setup`) declare each command next to its handler, and
`main` builds the parser from them and turns faults into exit codes.
"""

from mailbot.cli.main import commands_table, main

__all__ = ["commands_table", "main"]
