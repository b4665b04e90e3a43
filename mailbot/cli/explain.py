"""`mailbot explain`: the archive facts and every check, for a MOUS, a mail, or a past request.

Declared here; the work is in `mailbot.cli.explaining`, imported when the command
runs, because it needs the archive, the journal and the grammar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.cli.registry import Arg, command

if TYPE_CHECKING:
    from mailbot.cli.context import Context


@command("explain", help="why the bot says what it says: the archive facts (entitlement rows, "
         "state, QA0 Pass count, fields with their intents, release dates) and every check of "
         "the decision table with pass or its verdict; WHAT is a MOUS UID, a mail or trigger "
         "file, or a request's number in `mailbot requests` (what was recorded then)", args=(
    Arg("what", metavar="WHAT", help="uid://A001/X1296/X675 (or uid___A001_X1296_X675), "
        "a mail or trigger file, or REQ, a number of `mailbot requests`"),
    Arg("--email", default="", metavar="ADDR", help="for a MOUS: the user who asks"),
    Arg("--calfield", default="", metavar="NAMES", help="for a MOUS: calibrator fields, "
        "comma separated"),
    Arg("--project", default=None, metavar="CODE", help="for a MOUS: the project the request "
        "names (default: the archive's)"),
    Arg("--ticket", default="", metavar="N", help="for a MOUS: the helpdesk ticket"),
    Arg("--today", default=None, metavar="YYYY-MM-DD", help="judge on this day (default: "
        "today in mailbot.timezone)"),
    Arg("--archive", default=None, metavar="URL", help="this archive instead of archive.url"),
    Arg("--queries", default=None, metavar="DIR", help="these query files instead of "
        "archive.queries_dir"),
))
def _explain(ctx: Context) -> int:
    from mailbot.cli.explaining import explain

    return explain(ctx)
