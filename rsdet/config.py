"""Frozen dataclass configs, loaded from plain dicts / YAML with strict checking.

Configs are ordinary frozen dataclasses written next to the code they configure. This
module only converts between them and plain data:

* :func:`from_dict` builds a config from a mapping; an unknown key or a wrong type is a
  :class:`ConfigError` that names the dotted key path (``train.lr: expected float, got 'x'``).
* :func:`to_dict` is the inverse (tuples become lists, enums their values), so a config can
  be written to YAML or stored in a checkpoint and read back identically.
* :func:`apply_overrides` applies ``key.sub=value`` strings (values parsed as YAML) to a
  mapping, the way the CLI's ``--set`` does. A misspelt key is an error, never ignored.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from rsdet.errors import RsdetError

__all__ = ["ConfigError", "apply_overrides", "from_dict", "load_yaml", "to_dict"]

T = TypeVar("T")


class ConfigError(RsdetError, ValueError):
    """A configuration value or key is invalid; the message names the dotted key path."""


def _fail(path: str, msg: str) -> typing.NoReturn:
    raise ConfigError(f"{path or '<root>'}: {msg}")


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp`` and convert it (lists to tuples etc.)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _convert_union(tp, value, path)
    if origin is Literal:
        if value not in get_args(tp):
            _fail(path, f"expected one of {list(get_args(tp))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            _fail(path, f"expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return from_dict(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return value if isinstance(value, tp) else tp(value)
        except ValueError:
            _fail(path, f"expected one of {[m.value for m in tp]}, got {value!r}")
    if origin in (tuple, list):
        return _convert_sequence(tp, value, path)
    if origin is dict:
        if not isinstance(value, Mapping):
            _fail(path, f"expected a mapping, got {value!r}")
        ktp, vtp = get_args(tp) or (Any, Any)
        return {_convert(ktp, k, path): _convert(vtp, v, f"{path}.{k}") for k, v in value.items()}
    return _convert_scalar(tp, value, path)


def _convert_union(tp: Any, value: Any, path: str) -> Any:
    args = get_args(tp)
    if value is None and type(None) in args:
        return None
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _convert(arg, value, path)
        except ConfigError:
            continue
    _fail(path, f"{value!r} matches none of {tp}")


def _convert_sequence(tp: Any, value: Any, path: str) -> Any:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(path, f"expected a list, got {value!r}")
    args = get_args(tp)
    if get_origin(tp) is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            _fail(path, f"expected {len(args)} items, got {len(value)}")
        pairs = zip(args, value, strict=True)
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(pairs))
    item = args[0] if args else Any
    items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if get_origin(tp) is tuple else items


def _convert_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(path, f"expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, f"expected an integer, got {value!r}")
        return value
    if tp is bool and not isinstance(value, bool):
        _fail(path, f"expected true or false, got {value!r}")
    if tp is str and not isinstance(value, str):
        _fail(path, f"expected a string, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        _fail(path, f"expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, recursively; missing keys take their defaults.

    Raises:
        ConfigError: unknown key, missing required key, or a value of the wrong type.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}." if path else ""
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown key {where}{unknown[0]} (known keys: {known})")
    kwargs = {}
    for name, field in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{sub}: required key is missing")
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """Plain-data view of a config (dataclasses -> dicts, tuples -> lists, enums -> values)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b.c=value`` overrides applied.

    Values are parsed as YAML (``3`` is an int, ``[1, 2]`` a list, ``null`` None). Only keys
    that already exist in ``data`` may be set, except inside an existing mapping whose
    dataclass validation will catch the mistake later.
    """
    out: dict[str, Any] = _deep_copy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        node: Any = out
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])}: not a mapping")
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: parent is not a mapping")
        node[parts[-1]] = yaml.safe_load(raw)
    return out


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def load_yaml(cls: type[T], path: str | Path, overrides: Sequence[str] = ()) -> T:
    """Read YAML file ``path`` into dataclass ``cls``, applying ``overrides`` first.

    Raises:
        ConfigError: unreadable file, YAML syntax error, unknown key or wrong type; the
            message starts with the file name.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML ({err})") from err
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return from_dict(cls, apply_overrides(raw, overrides))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
