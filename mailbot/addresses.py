"""Who may do what, by address: the ARC contacts of `addresses.arc_contacts`.

An entry is an address, or "@domain" for everybody there. A domain entry lets
anybody at that domain ASK (request-shaped mail is answered), but only a listed
address, i.e. a person AOG named, may RECEIVE the blind copy of a completion of
proprietary data: a From address is easy to borrow, a download link is not to be
lent (procedure section 5; issue 10).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def normal(address: str) -> str:
    """An address as compared: no surrounding space, lower case."""
    return address.strip().lower()


@dataclass(frozen=True)
class Contacts:
    """The ARC contacts: listed addresses and whole domains."""

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()  # each with its "@", e.g. "@eso.org"

    @classmethod
    def of(cls, entries: Iterable[str]) -> Contacts:
        """From the entries of `addresses.arc_contacts`."""
        cleaned = [normal(e) for e in entries if e.strip()]
        return cls(addresses=frozenset(e for e in cleaned if not e.startswith("@")),
                   domains=frozenset(e for e in cleaned if e.startswith("@")))

    def admits(self, address: str) -> bool:
        """`address` is an ARC contact: listed, or at a listed domain."""
        address = normal(address)
        return address in self.addresses or any(address.endswith(d) for d in self.domains)

    def names(self, address: str) -> bool:
        """`address` is listed by itself, not only through its domain."""
        return normal(address) in self.addresses
