"""Whether the receiving MTA vouches for a mail's From: its Authentication-Results (RFC 8601).

From is whatever the sender typed. The MTA that received the mail for aog@ checks
SPF, DKIM and DMARC and writes what it found in an `Authentication-Results`
header on top of the mail, naming itself by its authserv-id (`inbox.authserv_id`,
e.g. "mx.eso.org"). Only its topmost such header counts: it removes any header
claiming its id from incoming mail (RFC 8601 section 5), so one below it, or one
from another id, may be the sender's own invention.

The From address counts as authenticated when that header shows `dmarc=pass`
(for the From domain), or `dkim=pass` with a signing domain (`header.d`) aligned
with it, or `spf=pass` for an envelope sender (`smtp.mailfrom`) aligned with it.
Aligned is DMARC's relaxed alignment without a public-suffix list: the same
domain, or one a subdomain of the other (a signature for "org" needs the "org"
zone's keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message

from mailbot import textmail
from mailbot.grammar.problems import show
from mailbot.model import Authentication

HEADER = "Authentication-Results"
# key=value of a resinfo: "dkim=pass", "header.d=eso.org", "reason=\"...\"".
_PAIR = re.compile(r'([A-Za-z0-9_.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;"]+)')
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^\s;"]+)')


@dataclass(frozen=True)
class _Result:
    """One resinfo: the method, its result and its properties (lower case)."""

    method: str
    result: str
    properties: dict[str, str]


def authentication(message: Message, senders: Sequence[textmail.Mailbox],
                   authserv_id: str) -> Authentication:
    """What the topmost Authentication-Results of `authserv_id` say of the From address."""
    if len(senders) != 1:
        return Authentication(False, f"{len(senders)} From addresses, not one")
    domain = senders[0].address.rpartition("@")[2].lower()
    wanted = authserv_id.strip().lower()
    for raw in textmail.raw_headers(message, HEADER):
        segments = _segments(_uncommented(raw))
        if _authserv_id(segments[0]) == wanted:
            return _verdict(list(_results(segments[1:])), domain, wanted)
    return Authentication(False, f"no {HEADER} from {show(authserv_id, quote=False)}")


def _verdict(results: list[_Result], domain: str, authserv_id: str) -> Authentication:
    for r in results:
        if r.result != "pass":
            continue
        if r.method == "dmarc" and r.properties.get("header.from", domain) == domain:
            return Authentication(True, f"dmarc=pass ({authserv_id})")
        signer = r.properties.get("header.d") or _domain(r.properties.get("header.i", ""))
        if r.method == "dkim" and aligned(signer, domain):
            return Authentication(True, f"dkim=pass header.d={signer} ({authserv_id})")
        envelope = _domain(r.properties.get("smtp.mailfrom", ""))
        if r.method == "spf" and aligned(envelope, domain):
            return Authentication(True, f"spf=pass smtp.mailfrom={envelope} ({authserv_id})")
    found = ", ".join(f"{r.method}={r.result}" for r in results[:6]) or "no result"
    return Authentication(False, show(f"{found} from {authserv_id}: nothing vouches for "
                                      f"{domain}", quote=False, limit=200))


def aligned(signer: str, domain: str) -> bool:
    """DMARC's relaxed alignment, without a public-suffix list (see the module)."""
    signer, domain = signer.strip().lower().rstrip("."), domain.strip().lower().rstrip(".")
    if not signer or not domain:
        return False
    return signer == domain or domain.endswith("." + signer) or signer.endswith("." + domain)


def _domain(value: str) -> str:
    """The domain of "user@domain", "@domain" or "domain"."""
    return _unquoted(value).rpartition("@")[2].lower()


def _uncommented(raw: str) -> str:
    """`raw` without its (nested) comments; quoted strings kept as they are."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in raw:
        if escaped:
            escaped = False
            if not depth:
                out.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == "(":
            depth += 1
            continue
        elif char == ")" and depth:
            depth -= 1
            continue
        elif char == '"' and not depth:
            quoted = True
        if not depth:
            out.append(char)
    return "".join(out)


def _segments(text: str) -> list[str]:
    """`text` split at the semicolons that are not quoted."""
    segments, start, quoted, escaped = [], 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            segments.append(text[start:index])
            start = index + 1
    segments.append(text[start:])
    return segments


def _authserv_id(segment: str) -> str:
    token = _TOKEN.match(segment)
    return _unquoted(token.group(1)).lower() if token else ""


def _results(segments: Sequence[str]) -> Iterator[_Result]:
    for segment in segments:
        pairs = [(k.lower(), _unquoted(v)) for k, v in _PAIR.findall(segment)]
        if not pairs:
            continue  # "none", or junk
        method, result = pairs[0]
        yield _Result(method.partition("/")[0], result.lower(),
                      {k: v.lower() for k, v in pairs[1:]})


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
