"""The Oracle side of the archive: an oracledb thin connection, and which of its faults pass.

Its own module so that oracledb is imported only when an Oracle URL is opened
(`connections.target_of`): the embedded setup and every other command never pay for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import oracledb

from mailbot.archive.connections import Rows, column_names

# What oracledb raises for a database that is down, gone or refusing a statement.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (oracledb.Error,)
# Oracle errors that a retry cannot cure: wrong credentials, locked or expired account.
_PERMANENT_ORACLE = frozenset({"ORA-01017", "ORA-01005", "ORA-28000", "ORA-28001", "ORA-01045"})


def transient(exc: BaseException) -> bool:
    """An oracledb fault a later attempt may not meet: network, listener, database starting."""
    code = getattr(exc.args[0], "full_code", "") if exc.args else ""
    return isinstance(exc, oracledb.OperationalError) and code not in _PERMANENT_ORACLE


class OracleConnection:
    """An oracledb thin connection driven by a private event loop.

    The asyncio API is used because only it can bound the whole connect: thin
    mode has no connect timeout, and a peer that accepts TCP but never answers
    makes the blocking `connect()` hang for ever.
    """

    def __init__(self, params: dict[str, Any], timeout: float, query_timeout: float) -> None:
        self._runner = asyncio.Runner()
        try:
            self._conn = self._runner.run(_bounded(params, timeout))
        except BaseException:
            self._runner.close()
            raise
        # A query that hangs must end the run (an outage), not block cron for ever.
        self._conn.call_timeout = int(query_timeout * 1000)

    def rows(self, sql: str, binds: dict[str, str]) -> Rows:
        return self._runner.run(self._rows(sql, binds))

    async def _rows(self, sql: str, binds: dict[str, str]) -> Rows:
        with self._conn.cursor() as cursor:
            await cursor.execute(sql, binds)
            rows = await cursor.fetchall()
            return column_names(cursor.description), rows

    def close(self) -> None:
        try:
            self._runner.run(self._conn.close())
        except oracledb.Error:
            pass  # already broken: nothing left to release on the server side
        finally:
            self._runner.close()


async def _bounded(params: dict[str, Any], timeout: float) -> Any:
    # connect_async needs the running loop, so it is called in here.
    return await asyncio.wait_for(_connect_async(params), timeout)


async def _connect_async(params: dict[str, Any]) -> Any:
    return await oracledb.connect_async(**params)
