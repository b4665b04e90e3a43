"""The head of a trigger file: `EU ARC contact` and `CC email` lines, then the subject.

AOG writes a trigger file for a request that did not come by mail; the request
lines follow its head as in a mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailbot import textmail
from mailbot.grammar.lines import is_request_line
from mailbot.grammar.problems import Checked, disagree
from mailbot.grammar.values import email_problem

_CONTACT_LINE = re.compile(r"^EU\s+ARC\s+contact\b\s*:?\s*(.*)$", re.IGNORECASE)
_CC_LINE = re.compile(r"^CC\s+e-?mail\b\s*:?\s*(.*)$", re.IGNORECASE)


@dataclass
class TriggerHead:
    """The head lines of a trigger file, and the lines of the body below them."""

    contacts: list[str] = field(default_factory=list)
    ccs: list[str] = field(default_factory=list)
    subject: str = ""
    body: list[str] = field(default_factory=list)


def trigger_head(lines: Sequence[str]) -> TriggerHead:
    """Split a trigger file into its header lines (contact, CC, subject) and the body."""
    head = TriggerHead()
    for index, raw in enumerate(lines):
        line = textmail.analysis_line(raw)
        contact, cc = _CONTACT_LINE.match(line), _CC_LINE.match(line)
        if contact:
            head.contacts.append(contact.group(1).strip())
        elif cc:
            head.ccs.append(cc.group(1).strip())
        elif not line:
            continue
        elif is_request_line(line):
            head.body = list(lines[index:])  # no subject line: the body starts here
            return head
        else:
            head.subject = textmail.one_line(line)
            head.body = list(lines[index + 1:])
            return head
    return head


def trigger_contact(contacts: Sequence[str]) -> Checked[str]:
    """The one EU ARC contact of the `EU ARC contact` lines, lower-cased."""
    values = list(dict.fromkeys(_bracketed(c).lower() for c in contacts))
    if not values:
        return Checked("", ("no 'EU ARC contact' line",))
    if len(values) > 1:
        return Checked("", (disagree("EU ARC contact", values),))
    problem = email_problem("EU ARC contact", values[0])
    return Checked("", (problem,)) if problem else Checked(values[0])


def trigger_ccs(lines: Sequence[str]) -> Checked[tuple[str, ...]]:
    """The usable addresses of the `CC email` lines, each once, and the unusable ones."""
    out: list[str] = []
    problems: list[str] = []
    for line in lines:
        for item in re.split(r"[,;]|\s+", line):
            address = _bracketed(item).lower()
            if not address:
                continue
            problem = email_problem("CC email", address)
            if problem:
                problems.append(problem)
            elif address not in out:
                out.append(address)
    return Checked(tuple(out), tuple(problems))


def _bracketed(value: str) -> str:
    """`<addr>` -> `addr` (the trigger template writes the contact in angle brackets)."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1].strip()
    return value
