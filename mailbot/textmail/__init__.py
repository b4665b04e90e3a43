"""Readable text and headers out of a mail as real clients send it (pure, no I/O).

The stdlib `email` package with `policy.default` does the MIME work; what it
leaves to us is done here: charset fallbacks (its `get_content()` raises on an
unknown charset), RFC 3676 format=flowed, HTML-only bodies, and header values
that its parser chokes on. Nothing here raises on bad input: a header that
cannot be parsed reads as its raw text, a body that cannot be decoded as
Latin-1. Nothing takes long either: header fields are cut before they are
decoded, and few addresses of a field are read (`headers`).

`text` decodes and normalises text, `htmltext` reads HTML bodies, `fields`
indexes a message's fields by name, `headers` reads header values, `body`
walks the MIME parts (`plainmime` reads a mail of plain shape without the
stdlib's parser, to the same message), and `shortcuts` reads plain header values off
their text where that provably equals the policy's reading (the policy's
header parsing was most of the time a mail took).
"""

from mailbot.text import one_line  # a header value safe to show or reuse
from mailbot.textmail.body import (
    MAX_PART_DEPTH,
    Forwarded,
    MailText,
    NestingDefect,
    parse_bytes,
    read_body,
    too_deep,
)
from mailbot.textmail.fields import MAX_FIELDS, MAX_HEADER_CHARS, header_names, raw_headers
from mailbot.textmail.headers import (
    MAX_ADDRESSES,
    Mailbox,
    address_items,
    content_type,
    escaped,
    header_date,
    header_text,
    header_texts,
    mailboxes,
    message_ids,
)
from mailbot.textmail.htmltext import html_to_text
from mailbot.textmail.text import (
    analysis_line,
    decode_text_bytes,
    normalize_text,
    unflow,
    unsurrogate,
)

__all__ = [
    "MAX_ADDRESSES",
    "MAX_FIELDS",
    "MAX_HEADER_CHARS",
    "MAX_PART_DEPTH",
    "Forwarded",
    "MailText",
    "Mailbox",
    "NestingDefect",
    "address_items",
    "analysis_line",
    "content_type",
    "decode_text_bytes",
    "escaped",
    "header_date",
    "header_names",
    "header_text",
    "header_texts",
    "html_to_text",
    "mailboxes",
    "message_ids",
    "normalize_text",
    "one_line",
    "parse_bytes",
    "raw_headers",
    "read_body",
    "too_deep",
    "unflow",
    "unsurrogate",
]
