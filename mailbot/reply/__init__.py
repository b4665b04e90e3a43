"""Every mail the bot sends, rendered from Jinja2 templates (pure: no I/O but reading them).

Four kinds (spec sections 3-5): a *verdict* reply and a *malformed* reply to the
request's sender in the request's thread (and the ARC staff it names, nobody
else), the *completion* mail to the user with the maintainer, aog@ and (for
calibrator data, or when listed by address) the ARC contact as blind copies, and
the *failure* mail with the entire stagecalms output to the maintainer. A fifth,
the *notice*, tells AOG that a sender's requests are kept (`limits`).

Every header is written from its value by `reply.headers`, never parsed again.

Each render function is given a `ReplySettings` (the addresses, wording and limits
it reads, nothing else of the settings) and a `Templates` (built once from
`replies.templates_dir`, empty: the shipped `templates/replies/`). The templates are
`verdict_<CODE>.txt.j2` for each verdict code but STAGE, `malformed.txt.j2`,
`completion.txt.j2` and `failure.txt.j2`. They render the plain-text body; the
completion and failure templates also set `subject` (`{%- set subject = ... -%}`),
so that its wording is theirs too. `detail` is a plain dict, read with
`detail.get(...)` so that a key the decision did not record renders as nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot import lazy

if TYPE_CHECKING:
    from mailbot.reply.message import MAX_LINE_OCTETS, message_id
    from mailbot.reply.quoting import TRUNCATION_MARKER, quote, reply_subject
    from mailbot.reply.render import (
        render_completion,
        render_failure,
        render_malformed,
        render_notice,
        render_verdict,
    )
    from mailbot.reply.settings import SHIPPED_TEMPLATES, ReplySettings, Templates

# Where each name lives, imported on first use: the settings check an address with
# `reply.headers` without loading the renderers (an idle run renders nothing).
_HOMES = {
    "MAX_LINE_OCTETS": "message",
    "message_id": "message",
    "TRUNCATION_MARKER": "quoting",
    "quote": "quoting",
    "reply_subject": "quoting",
    "render_completion": "render",
    "render_failure": "render",
    "render_malformed": "render",
    "render_notice": "render",
    "render_verdict": "render",
    "SHIPPED_TEMPLATES": "settings",
    "ReplySettings": "settings",
    "Templates": "settings",
}


__getattr__ = lazy.attributes(__name__, _HOMES)

__all__ = [
    "MAX_LINE_OCTETS",
    "SHIPPED_TEMPLATES",
    "TRUNCATION_MARKER",
    "ReplySettings",
    "Templates",
    "message_id",
    "quote",
    "render_completion",
    "render_failure",
    "render_malformed",
    "render_notice",
    "render_verdict",
    "reply_subject",
]
