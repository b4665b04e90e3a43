"""The MOUS of a request: one per mail, in either form, the same in subject and file name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

from mailbot.grammar.lines import LABEL, MOUS
from mailbot.grammar.problems import Checked, count, show
from mailbot.model import MOUS_FILE, MOUS_URI, mous_file_form

# Anything written like a MOUS UID, well-formed or not: a second one in a line or a
# subject is a second MOUS, and a malformed one gets its own problem line.
_UID_LIKE = re.compile(r"uid(?:___|:/*)[^\s,;]*", re.IGNORECASE)


def mous_uri(value: str) -> str | None:
    """The URI form of a MOUS UID written in either form; None if it is not one."""
    match = MOUS_URI.fullmatch(value) or MOUS_FILE.fullmatch(value)
    return "uid://{}/{}/{}".format(*match.groups()) if match else None


def file_form(value: str) -> str:
    """A MOUS as problem lines show it: the file form, or a non-UID as it was written."""
    return mous_file_form(value) if MOUS_URI.fullmatch(value) else value


def file_name_mous(file_name: str) -> str | None:
    """The MOUS named by `trigger-<MOUS>-YYYY-MM-DDThh-mm-ss.txt`, if the name has one."""
    match = MOUS_FILE.search(PurePath(file_name).name) if file_name else None
    return mous_uri(match.group(0)) if match else None


def one_mous(values: Sequence[str], subjects: Sequence[str],
             file_name: str | None) -> Checked[str]:
    """The one MOUS of the mail (URI form), checked against the subjects and the file name.

    `file_name` is the MOUS its file name names (URI form), None without one.
    """
    if not values:
        return Checked("", (f"no '{LABEL[MOUS]}' line",))
    named, problems = _named(values)
    distinct = list(dict.fromkeys(named))
    if len(distinct) > 1:
        return Checked("", (*problems, _many_mous(distinct)))
    if not distinct:
        return Checked("", problems)
    mous = distinct[0]
    if not MOUS_URI.fullmatch(mous):
        # A UID-like token that is no MOUS UID, named more than once: `_named` kept it only
        # to count it, and gave it its problem line. It never leaves as the MOUS.
        return Checked("", problems)
    mismatches = _compare_subjects(mous, subjects)
    if file_name is not None and file_name != mous:
        mismatches.append(f"file name names {file_form(file_name)} but the body names "
                          f"{file_form(mous)}")
    return Checked("" if mismatches else mous, (*problems, *mismatches))


def _named(values: Sequence[str]) -> Checked[tuple[str, ...]]:
    """The MOUSs the lines name (URI forms, in order), and the lines that name none.

    A UID-like token that is no MOUS UID, in a line of several, stays as written: it
    still counts as one more MOUS; its problem line says it is none.
    """
    named: list[str] = []
    problems: list[str] = []
    for value in values:
        if not value:
            problems.append(f"the '{LABEL[MOUS]}' line names no MOUS")
            continue
        tokens = _UID_LIKE.findall(value)
        if len(tokens) > 1:
            named.extend(mous_uri(t) or t for t in tokens)
            problems.extend(_not_a_uid(t) for t in dict.fromkeys(tokens) if not mous_uri(t))
            continue
        uri = mous_uri(value)
        if uri is None:
            problems.append(_not_a_uid(value))
            continue
        named.append(uri)
    return Checked(tuple(named), tuple(dict.fromkeys(problems)))


def _not_a_uid(value: str) -> str:
    return (f"MOUS {show(value)} is not a MOUS UID of the form "
            "uid___A001_X1296_X675 or uid://A001/X1296/X675")


def _compare_subjects(mous: str, subjects: Sequence[str]) -> list[str]:
    problems: list[str] = []
    for subject in subjects:
        tokens = list(dict.fromkeys(_UID_LIKE.findall(subject)))
        if len(tokens) > 1:
            problems.append(_many_mous([mous_uri(t) or t for t in tokens]))
            continue
        for token in tokens:
            uri = mous_uri(token)
            if uri is None:
                problems.append(f"the subject names {show(token)}, which is not a MOUS UID "
                                "of the form uid___A001_X1296_X675")
            elif uri != mous:
                problems.append(f"subject names {file_form(uri)} but the body names "
                                f"{file_form(mous)}")
    return problems


def _many_mous(uris: Sequence[str]) -> str:
    shown = ", ".join(file_form(u) for u in dict.fromkeys(uris))
    return f"{count(len(uris))} MOUSs in one mail: send one mail per MOUS ({shown})"
