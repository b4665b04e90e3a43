"""The values of the request lines, validated strictly.

Values later reach SQL binds and an SSH command line: a value that does not fit
is reported, never cleaned. Every check returns its problems; `validate` puts
them in line order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from mailbot.grammar.lines import CALFIELD, EMAIL, LABEL, MOUS, PROJECT, TICKET, USER, Scan
from mailbot.grammar.mous import one_mous
from mailbot.grammar.problems import Checked, disagree, show
from mailbot.model import Request

T = TypeVar("T")

# re.ASCII: `\d` alone also matches Arabic-Indic, fullwidth... digits, which are no
# ticket or project number of ours and must not reach SQL or the stagecalms command line.
_PROJECT = re.compile(r"\d{4}\.[0-9A-Z]\.\d{5}\.[A-Z]{1,3}", re.ASCII)
_TICKET = re.compile(r"#?\s*(\d+)", re.ASCII)
_FIELD_NAME = re.compile(r"[A-Za-z0-9+\-._]+")
# Addresses as the helpdesk profiles hold them: dot-atoms of the common characters and
# a dotted host name. RFC 5322 allows more (quoted local parts, `{|}`...), never seen
# in a profile and unwelcome next to SQL and shell; such a value gets a problem line.
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*")
_EMAIL_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_EMAIL_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")
# The whole address in one match: a local part of at most 64 characters, "@", two labels
# or more, the last of them a top-level domain.
_EMAIL = re.compile(rf"(?=[^@]{{1,64}}@){_EMAIL_LOCAL.pattern}@(?:{_EMAIL_LABEL.pattern}\.)+"
                    rf"(?=(?:{_EMAIL_TLD.pattern})\Z){_EMAIL_LABEL.pattern}")
# The address part stops at "<": with `\S+?` a value of many "<mailto:" backtracks
# quadratically.
_OUTLOOK_MAILTO = re.compile(r"([^\s<]+?)\s*<mailto:([^>\s]+)>")
_NAME_PUNCTUATION = str.maketrans(dict.fromkeys(" -'.\u2019"))

# A value check: the problem sentence, or "" when the value is fine.
_Check = Callable[[str], str]

_MAX_NAME = 200
_MAX_FIELDS = 100
_MAX_FIELD_NAME = 64
_MAX_TICKET = 12


def validate(scan: Scan, subjects: Sequence[str],
             file_name_mous: str | None) -> Checked[partial[Request]]:
    """The request as its lines say, and every problem of them (all of them, in line order).

    The request still lacks what the lines do not say (where it came from, when):
    the caller adds that once there is no problem.
    """
    mous = _read(scan, MOUS, lambda v: one_mous(v, subjects, file_name_mous))
    project = _read(scan, PROJECT, lambda v: one_value(PROJECT, v, _project_problem))
    calfields = _read(scan, CALFIELD, _calfield_list)
    user = _read(scan, USER, lambda v: one_value(
        USER, [" ".join(x.split()) for x in v], _user_problem))
    email = _read(scan, EMAIL, lambda v: one_value(
        EMAIL, [_outlook_mailto(x) for x in v], lambda x: email_problem("email", x)))
    ticket = _read(scan, TICKET, lambda v: one_value(TICKET, v, _ticket_problem))
    ticket_digits = _TICKET.fullmatch(ticket.value)
    request = partial(Request, mous=mous.value, project=project.value,
                      calfields=calfields.value, user_name=user.value, user_email=email.value,
                      ticket=ticket_digits.group(1) if ticket_digits else "")
    return Checked(request, (*mous.problems, *project.problems, *calfields.problems,
                             *user.problems, *email.problems, *ticket.problems))


def _read(scan: Scan, key: str, check: Callable[[Sequence[str]], Checked[T]]) -> Checked[T]:
    """The `key` lines checked, after the problems of those still holding a placeholder.

    When every line is a placeholder, only the empty value of no line is kept from the
    check: its "no 'project' line" would be wrong, the line is there, only unfilled.
    """
    if not scan.placeholders[key]:  # the common case
        return check(scan.fields[key])
    placeholders = tuple(_placeholder_problem(key, value)
                         for value in dict.fromkeys(scan.placeholders[key]))
    if placeholders and not scan.fields[key]:
        return Checked(check(()).value, placeholders)
    value, problems = check(scan.fields[key])
    return Checked(value, (*placeholders, *problems))


def one_value(key: str, values: Sequence[str], check: _Check) -> Checked[str]:
    """The value of the `key` lines if they all name the same one and it passes `check`."""
    if not values:
        return Checked("", (f"no '{LABEL[key]}' line",))
    if len(values) == 1 and values[0]:  # the common case: one line, with a value
        problem = check(values[0])
        return Checked("", (problem,)) if problem else Checked(values[0])
    distinct = [v for v in dict.fromkeys(values) if v]
    problems: list[str] = []
    if len(distinct) < len(set(values)):
        problems.append(f"the '{LABEL[key]}' line has no value")
    if len(distinct) > 1:
        problems.append(disagree(LABEL[key], distinct))
    if problems:
        return Checked("", tuple(problems))
    problem = check(distinct[0])
    return Checked("", (problem,)) if problem else Checked(distinct[0])


def _placeholder_problem(key: str, value: str) -> str:
    problem = f"the '{LABEL[key]}' line still holds the placeholder {show(value)}"
    if key == CALFIELD:
        return problem + ": name the fields, or leave the line out for all the data"
    return problem + ": write the value in its place"


def _project_problem(value: str) -> str:
    if _PROJECT.fullmatch(value):
        return ""
    return f"project code {show(value)} is not of the form YYYY.C.NNNNN.T (e.g. 2017.1.00727.S)"


def _ticket_problem(value: str) -> str:
    match = _TICKET.fullmatch(value)
    if match and len(match.group(1)) <= _MAX_TICKET:
        return ""
    return f"helpdesk ticket {show(value)} is not a ticket number (digits only)"


def _user_problem(value: str) -> str:
    if len(value) > _MAX_NAME:
        return f"user name {show(value)} is longer than {_MAX_NAME} characters"
    # Without its punctuation, a name is letters only, and at least one.
    if value.translate(_NAME_PUNCTUATION).isalpha():
        return ""
    return (f"user name {show(value)} may contain only letters, spaces, hyphens, "
            "apostrophes and dots")


def email_problem(what: str, value: str) -> str:
    """"" for an address of plain syntax, else the problem sentence."""
    if len(value) <= 254 and _EMAIL.fullmatch(value) is not None:
        return ""
    return f"{what} {show(value)} is not a valid email address"


def _outlook_mailto(value: str) -> str:
    """Outlook's plain text renders a link as `addr<mailto:addr>`: that is the address."""
    match = _OUTLOOK_MAILTO.fullmatch(value)
    if match and match.group(1).lower() == match.group(2).lower():
        return match.group(1)
    return value


def _calfield_list(values: Sequence[str]) -> Checked[tuple[str, ...]]:
    """The calibrator fields of the 'calfield' line, each once; () for all the data."""
    distinct = list(dict.fromkeys(" ".join(v.split()) for v in values))
    if not distinct:
        return Checked(())
    if len(distinct) > 1:
        return Checked((), (disagree(LABEL[CALFIELD], distinct),))
    listed = distinct[0]
    if not listed:
        return Checked((), ("the 'calfield' line names no field",))
    names = [name.strip() for name in listed.split(",")]
    found: dict[str, None] = {}  # a dict: `in` on a list is quadratic in a long list
    problems: list[str] = []
    if any(not name for name in names):
        problems.append(f"calfield list {show(listed)} has an empty field name")
    for name in (n for n in names if n):
        if not _FIELD_NAME.fullmatch(name) or len(name) > _MAX_FIELD_NAME:
            problems.append(f"calibrator field {show(name)} is not a field name "
                            "(letters, digits and + - . _ only)")
        elif name in found:
            problems.append(f"calibrator field {show(name)} is listed twice")
        else:
            found[name] = None
    if len(found) > _MAX_FIELDS:
        problems.append(f"more than {_MAX_FIELDS} calibrator fields")
    return Checked(() if problems else tuple(found), tuple(problems))
