"""One `mailbot run`: take new mail, decide, stage, deliver (design guide, "The job").

- `loop`: the run's steps in order, the lock, the cut-over;
- `intake`: each source's new mail, planned (`mailbot.plan`), recorded, then marked;
- `planning`: what the plan is given (grammar per channel, journal and archive, rules);
- `record`: the one place a disposition is written, in one transaction;
- `reprocess`: a shunted or untrusted mail handled again;
- `summary`: what a pass did.

Each name is imported from its module on first use: `mailbot run` loads the loop,
and the loop loads the planning and recording of mail only when a mail comes.
"""

from typing import TYPE_CHECKING

from mailbot import lazy

if TYPE_CHECKING:
    from mailbot.run.loop import STEPS, cutover, run_once, single_instance
    from mailbot.run.reprocess import reprocess
    from mailbot.run.summary import RunReport

_HOMES = {
    "STEPS": "loop",
    "RunReport": "summary",
    "cutover": "loop",
    "reprocess": "reprocess",
    "run_once": "loop",
    "single_instance": "loop",
}

__getattr__ = lazy.attributes(__name__, _HOMES)

__all__ = ["STEPS", "RunReport", "cutover", "reprocess", "run_once", "single_instance"]
