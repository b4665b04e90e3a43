"""A message's header fields by name, indexed once and read many times.

The grammar looks up some twenty names per mail, several twice; real mail carries
dozens of fields (Received, DKIM-Signature...), and scanning all of them for each
lookup was the largest single cost of its parse. The index rides on the message,
so it lives as long as the message does, and it keeps what the readers of
`headers` made of a name (decoded texts, message ids) so that a name read twice
is decoded once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

# A field longer than this is cut before it is decoded: no request needs more, and the
# policy's parsers are slow enough on megabytes (a 1 MB Subject took a minute).
MAX_HEADER_CHARS = 16 * 1024
# Fields of one name read (a mail has a handful of Received, one of the others).
MAX_FIELDS = 100

_FOLDING = re.compile(r"\r?\n[ \t]")


@dataclass(slots=True)
class HeaderIndex:
    """A message's fields by lower-cased name, the fields it was built from, and what
    the readers made of them so far: each reader's own table, by the name as the reader
    spells it (callers spell a name one way; hashing a string is cached, a tuple's or a
    lowered copy's is not). Not frozen: the tables fill as the readers ask, and it is
    built once per message, where a frozen one costs a call per field."""

    fields: list[tuple[str, Any]]
    names: list[str]  # every field's name, lower-cased, in order
    raws: dict[str, list[str]]  # the first `MAX_FIELDS` values of a name, as they stand
    read: dict[str, list[str]] = field(default_factory=dict)  # `raw_headers`
    read_ends: dict[str, list[str]] = field(default_factory=dict)  # with `ends`
    texts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # `header_texts`
    ids: dict[str, tuple[str, ...]] = field(default_factory=dict)  # `message_ids`


_INDEX = "_mailbot_header_index"


def header_index(message: Message) -> HeaderIndex:
    """The index of `message`'s fields, rebuilt whenever they differ from those it was
    built from (a caller may add, remove or replace a field between two lookups):
    comparing the lists is cheap."""
    # The message's own list, not `raw_items()`: that copies it twice per lookup, and a
    # lookup is what the grammar does most. It is only compared, never changed.
    fields: list[tuple[str, Any]] = message._headers  # type: ignore[attr-defined]
    index: HeaderIndex | None = getattr(message, _INDEX, None)
    if index is not None and index.fields == fields:
        return index
    return _indexed(message, fields)


def _indexed(message: Message, fields: list[tuple[str, Any]]) -> HeaderIndex:
    names = [key.lower() for key, _ in fields]
    raws: dict[str, list[str]] = {}
    for key, (_, value) in zip(names, fields, strict=True):
        values = raws.setdefault(key, [])
        if len(values) < MAX_FIELDS:
            values.append(str(value))
    index = HeaderIndex(list(fields), names, raws)
    setattr(message, _INDEX, index)
    return index


def raw_headers(message: Message, name: str, *, ends: bool = False) -> list[str]:
    """Every `name` header as it stands in the source (folding removed, not decoded).

    The first `MAX_FIELDS` fields, each cut to `MAX_HEADER_CHARS`: its start, or with
    `ends` its start and its end (a thread's first and latest References).
    """
    return list(indexed_raws(header_index(message), name, ends=ends))


def field_values(message: Message, name: str) -> list[str]:
    """`raw_headers(message, name)`, the index's own list: for readers that do not change
    it. One call where `header_index` and `indexed_raws` are two: readers ask this
    some fifteen times a mail."""
    fields: list[tuple[str, Any]] = message._headers  # type: ignore[attr-defined]
    index: HeaderIndex | None = getattr(message, _INDEX, None)
    if index is None or index.fields != fields:
        index = _indexed(message, fields)
    found = index.read.get(name)
    return found if found is not None else indexed_raws(index, name)


def indexed_raws(index: HeaderIndex, name: str, *, ends: bool = False) -> list[str]:
    """`raw_headers` off an index, the index's own list: for readers that do not change it."""
    table = index.read_ends if ends else index.read
    found = table.get(name)
    if found is None:
        # Most fields are one short line: nothing to cut or unfold.
        found = table[name] = [
            value.strip() if "\n" not in value and len(value) <= MAX_HEADER_CHARS
            else _unfolded(_cut(value, ends)) for value in index.raws.get(name.lower(), ())]
    return found


def header_names(message: Message) -> list[str]:
    """The names of all headers, lower-cased."""
    return list(header_index(message).names)


def _unfolded(text: str) -> str:
    return (_FOLDING.sub(" ", text) if "\n" in text else text).strip()


def _cut(text: str, ends: bool) -> str:
    if len(text) <= MAX_HEADER_CHARS:
        return text
    if not ends:
        return text[:MAX_HEADER_CHARS]
    # A space where the middle was: no item of a list is glued to another.
    head = MAX_HEADER_CHARS // 4
    return text[:head] + " " + text[-(MAX_HEADER_CHARS - head - 1):]
