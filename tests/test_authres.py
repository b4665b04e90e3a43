"""Authentication-Results (RFC 8601) as the grammar reads them: who vouches for From."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbot import grammar
from mailbot.grammar.authres import aligned
from mailbot.model import Authentication, Malformed, NotARequest

ID = "mx.eso.org"
BODY = ("please create the calibrated MS for MOUS uid___A001_X1296_X675\n"
        "project 2017.1.00727.S\nfor user Judit Szulagyi\nemail judit@example.org\n"
        "helpdesk ticket 16140\n")


def vouched(*results: str, sender: str = "From: ARC <arc@eso.org>",
            authserv_id: str = ID) -> Authentication | None:
    head = "".join(f"Authentication-Results: {r}\n" for r in results)
    raw = (f"{head}{sender}\nTo: aog@eso.org\nSubject: ALMA: REQUEST\n"
           f"Message-ID: <m@eso.org>\n\n{BODY}").encode()
    parsed = grammar.parse_message(raw, received=datetime.now(UTC), authserv_id=authserv_id)
    assert not isinstance(parsed, NotARequest)
    return parsed.origin.authentication


@pytest.mark.parametrize("results", [
    f"{ID}; dmarc=pass header.from=eso.org",
    f"{ID}; dmarc=pass",  # no header.from: the From domain is the one judged
    f"{ID}; dkim=pass header.d=eso.org header.s=sel",
    f"{ID}; dkim=pass header.i=@eso.org",
    f"{ID}; dkim=pass header.d=mail.eso.org",  # relaxed alignment
    f"{ID}; spf=pass smtp.mailfrom=bounces@eso.org",
    f"{ID}; spf=pass smtp.mailfrom=eso.org",
    f"{ID.upper()}; DMARC=PASS header.from=ESO.ORG",
    f'"{ID}" 1; dkim=fail; dmarc=pass (p=reject) header.from=eso.org',
    f"{ID} (the MTA; it says); dkim = pass (good sig) header.d = eso.org",
    f'{ID}; dkim=pass reason="a ; b" header.d=eso.org',
    f"{ID};\n  spf=none;\n  dmarc=pass header.from=eso.org",
], ids=range(12))
def test_a_result_that_vouches(results: str) -> None:
    found = vouched(results)
    assert found is not None and found.verified, found


@pytest.mark.parametrize(("results", "evidence"), [
    ((), f"no Authentication-Results from {ID}"),
    (("mx.attacker.example; dmarc=pass",), f"no Authentication-Results from {ID}"),
    ((f"{ID}; none",), f"no result from {ID}"),
    ((f"{ID}; dmarc=fail; dkim=fail; spf=softfail",),
     f"dmarc=fail, dkim=fail, spf=softfail from {ID}: nothing vouches for eso.org"),
    ((f"{ID}; dmarc=pass header.from=evil.example",), "dmarc=pass from"),
    ((f"{ID}; dkim=pass header.d=evil.example",), "dkim=pass from"),
    ((f"{ID}; dkim=pass header.d=eso.org.evil.example",), "dkim=pass from"),
    ((f"{ID}; dkim=pass header.d=notso.org",), "dkim=pass from"),
    ((f"{ID}; spf=pass smtp.helo=eso.org",), "spf=pass from"),
    ((f"{ID}; dmarc=fail", f"{ID}; dmarc=pass"), "dmarc=fail"),  # only the topmost
    (("mx.eso.org.evil.example; dmarc=pass", f"{ID}; dmarc=fail"), "dmarc=fail"),
    ((f"{ID} (; dmarc=pass)",), f"no result from {ID}"),  # in a comment
    ((f'{ID}; x="; dmarc=pass"',), f"x=; dmarc=pass from {ID}"),  # in a quoted value
], ids=range(13))
def test_a_result_that_does_not(results: tuple[str, ...], evidence: str) -> None:
    found = vouched(*results)
    assert found is not None and not found.verified
    assert evidence in found.evidence, found.evidence


def test_two_from_addresses_are_not_vouched_for() -> None:
    found = vouched(f"{ID}; dmarc=pass", sender="From: a@eso.org, b@eso.org")
    assert found == Authentication(False, "2 From addresses, not one")


def test_without_an_authserv_id_nothing_is_asked() -> None:
    assert vouched(f"{ID}; dmarc=fail", authserv_id="") is None


def test_a_malformed_request_carries_it_too() -> None:
    raw = (f"Authentication-Results: {ID}; dmarc=fail\nFrom: arc@eso.org\n"
           "Subject: ALMA: REQUEST\n\nplease create the calibrated MS for MOUS x\n").encode()
    parsed = grammar.parse_message(raw, received=datetime.now(UTC), authserv_id=ID)
    assert isinstance(parsed, Malformed)
    assert parsed.origin.authentication == Authentication(
        False, f"dmarc=fail from {ID}: nothing vouches for eso.org")


@pytest.mark.parametrize(("signer", "domain", "expected"), [
    ("eso.org", "eso.org", True), ("ESO.org.", "eso.org", True),
    ("eso.org", "astro.eso.org", True), ("mail.eso.org", "eso.org", True),
    ("eso.org", "neso.org", False), ("org", "eso.org", True),  # needs the org zone's keys
    ("", "eso.org", False), ("eso.org", "", False), ("evil.example", "eso.org", False),
])
def test_relaxed_alignment(signer: str, domain: str, expected: bool) -> None:
    assert aligned(signer, domain) is expected


def test_a_huge_header_costs_nothing() -> None:
    junk = "; ".join(f"dkim{i}=fail" for i in range(50_000))
    found = vouched(f"{ID} (" * 1000 + ")" * 1000 + f"; {junk}")
    assert found is not None and not found.verified
