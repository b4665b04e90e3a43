"""A package's names imported from their modules on first use (PEP 562 `__getattr__`), so
that importing the package costs nothing: `mailbot run` with nothing to do loads neither
the renderers, nor the IMAP client, nor SSH."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """The `__getattr__` of `package`, whose name N lives in module `package.homes[N]`."""

    def __getattr__(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        setattr(sys.modules[package], name, value)  # asked once: later lookups are plain
        return value

    return __getattr__
