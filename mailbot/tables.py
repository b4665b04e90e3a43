"""TOML tables read into frozen dataclasses: types checked, choices closed, paths resolved.

Knows nothing of mailbot's settings (that is `mailbot.config`): a dataclass field is
a sub-table when its type is a dataclass, a closed choice when it is a `Literal`, a
list of strings when it is `tuple[str, ...]`, and a path resolved against the data
directory when it is made with `path_setting`. Every fault is one `ConfigError` line,
from reading the file (`read_toml`) to the last value.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mailbot.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# How a path setting is resolved: LOCAL on this machine ({data_dir} and ~ expanded);
# DATA_DIR only {data_dir}, for a URL or a path that a remote shell reads (its ~).
_RESOLVE = "resolve"
LOCAL = types.MappingProxyType({_RESOLVE: "local"})
DATA_DIR = types.MappingProxyType({_RESOLVE: "data_dir"})

_Table = TypeVar("_Table", bound="DataclassInstance")


def path_setting(default: str, how: Mapping[str, str] = LOCAL) -> str:
    """A path setting with its default, resolved by `resolved` (`how`: LOCAL or DATA_DIR)."""
    setting: str = field(default=default, metadata=how)
    return setting


def resolved(table: _Table, data_dir: str) -> _Table:
    """`table` with its path settings resolved, sub-tables included; empty stays empty.

    Resolving twice changes nothing, so a `dataclasses.replace` of a resolved table
    (which runs `__post_init__` again) keeps its paths.
    """
    changes: dict[str, Any] = {}
    for setting in dataclasses.fields(table):
        value = getattr(table, setting.name)
        how = setting.metadata.get(_RESOLVE)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[setting.name] = resolved(value, data_dir)
        elif how and value:
            expanded = value.replace("{data_dir}", data_dir)
            changes[setting.name] = str(Path(expanded).expanduser()) if how == "local" else expanded
    return dataclasses.replace(table, **changes)


def read_toml(file: Path) -> dict[str, Any]:
    """The settings file's tables; each way it cannot be read is one line saying the fix."""
    import tomllib  # only a settings file is parsed: the embedded setup has none

    fix = "write one with `mailbot init PATH`, or name another with --config"
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file} ({fix})") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {file} is a directory ({fix})") from None
    except PermissionError:
        raise ConfigError(f"config file {file} is not readable by this user: give it "
                          "read permission (e.g. chgrp mailbot, chmod 640)") from None
    except OSError as exc:
        raise ConfigError(f"config file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {file} is not UTF-8 (byte {exc.start}): save it "
                          "as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def build(cls: type[Any], data: Mapping[str, Any], where: str, **extra: Any) -> Any:
    """A `cls` from the TOML table `data` found at `where`; `extra` are set as they are."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - set(extra)
    unknown = set(data) - known
    if unknown:
        raise ConfigError(_unknown(sorted(unknown), sorted(known), where))
    kwargs: dict[str, Any] = dict(extra)
    for name, value in data.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = build(typing.cast(type[Any], hint), table(value, key), key)
        else:
            kwargs[name] = _coerce(hint, value, key)
    return cls(**kwargs)


def _unknown(names: list[str], known: list[str], where: str) -> str:
    """The line for misspelt settings, with the likeliest meant name of each."""
    import difflib

    what = f"setting(s) in [{where}]" if where else "section(s)"
    guesses = [f"{name} (did you mean {close[0]}?)" if close else name
               for name in names
               for close in [difflib.get_close_matches(name, known, n=1)]]
    return f"unknown {what}: {', '.join(guesses)}"


def table(value: Any, key: str) -> Mapping[str, Any]:
    """`value`, which must be a TOML table."""
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if typing.get_origin(hint) is tuple:  # a TOML list of strings
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(item, v, key) for v in value)
    choice = typing.get_origin(hint) is Literal
    if choice and isinstance(value, str):
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(sorted(choices))}")
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if hint is bool and isinstance(value, bool):  # TOML's true/false only, never 1 or "yes"
        return value
    name = "str" if choice else getattr(hint, "__name__", hint)
    raise ConfigError(f"{key} must be of type {name}, not {value!r}")


def secret(env_name: str) -> str | None:
    """A secret from the environment (or a file named by `<ENV>_FILE`)."""
    value = os.environ.get(env_name)
    if value:
        return value
    file_name = os.environ.get(env_name + "_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"${env_name}_FILE={file_name}: {exc.strerror or exc}") from None
    return None
