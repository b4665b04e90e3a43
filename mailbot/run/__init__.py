"""One `mailbot run`: take new mail, decide, stage, deliver (design guide, "The job").

- `loop`: the run's steps in order, the lock, the cut-over;
- `intake`: each source's new mail, planned (`mailbot.plan`), recorded, then marked;
- `planning`: what the plan is given (grammar per channel, journal and archive, rules);
- `record`: the one place a disposition is written, in one transaction;
- `reprocess`: a shunted or untrusted mail handled again;
- `summary`: what a pass did.
"""

from mailbot.run.loop import STEPS, cutover, run_once, single_instance
from mailbot.run.reprocess import reprocess
from mailbot.run.summary import RunReport

__all__ = ["STEPS", "RunReport", "cutover", "reprocess", "run_once", "single_instance"]
