"""Configuration as dataclasses, loadable from TOML with ``key=value`` overrides.

Every sub-command's options live in a dataclass; ``load_config`` fills one from an optional
TOML file, then applies CLI overrides such as ``data.window_ms=25`` or ``epochs=3``.
Values are converted to the annotated field type, so a typo fails loudly with the key name.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError

T = TypeVar("T")


def _convert(value: Any, tp: Any, key: str, source: str | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        last: Exception | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source)
            except ConfigError as exc:
                last = exc
        raise last or ConfigError(f"{key}: cannot convert {_short(value)}", source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {_short(value)}", source)
        return from_dict(tp, value, source=source, prefix=f"{key}.")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_short(value)}", source)
        inner = args[0] if args else Any
        items = [_convert(v, inner, key, source) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {_short(value)}", source)
    if tp in (int, float, str):
        try:
            # A table, list or boolean is never a number or a string (bool("x") = 1 silently).
            if isinstance(value, (dict, list, tuple, bool)) and not (tp is str and isinstance(value, bool)):
                raise TypeError
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {_short(value)}", source) from None
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{key}: expected a path, got {_short(value)}", source)
        return Path(value)
    return value


def _short(value: Any) -> str:
    """``repr`` cut to one line of at most 80 characters (values can be whole tables)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def from_dict(cls: type[T], data: dict[str, Any], source: str | None = None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (possibly nested) dict, rejecting unknown keys."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown option {prefix}{unknown[0]} (known: {', '.join(sorted(names))})", source
        )
    kwargs = {k: _convert(v, hints[k], prefix + k, source) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a __post_init__ refusing a value of this file: name the file
        raise _located(exc, source) from None
    except (TypeError, ValueError, OverflowError) as exc:  # a __post_init__ refusing the values
        raise ConfigError(f"{prefix or 'options'}: {' '.join(str(exc).split())[:200]}", source) from None


def apply_overrides(cfg: T, overrides: list[str] | None, source: str | None = None) -> T:
    """Return a copy of ``cfg`` with ``a.b=value`` overrides applied (dotted keys for nesting).

    All overrides are gathered first and each dataclass is rebuilt once, so a cross-field check in
    a ``__post_init__`` sees every override together: ``--set distill_features=1 --set teacher=X``
    works in either order. A key given twice keeps its last value, as on a command line.
    """
    pending: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value", source)
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        node = pending
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):  # a later nested key replaces an earlier leaf
                node[part] = {}
            node = node[part]
        node.pop(parts[-1], None)  # keep the order in which keys were last given
        node[parts[-1]] = (raw.strip(), key)
    return _rebuild(cfg, pending, "", source) if pending else cfg


def _rebuild(obj: Any, pending: dict[str, Any], prefix: str, source: str | None) -> Any:
    """``obj`` with the ``pending`` values (leaves ``(raw, full key)``, nested dicts) set at once."""
    if not dataclasses.is_dataclass(obj):
        first = next(iter(pending))
        raise ConfigError(f"unknown option {prefix}{first} ({prefix.rstrip('.')} is not a table of options)",
                          source)
    hints = typing.get_type_hints(type(obj))
    changes: dict[str, Any] = {}
    for name, item in pending.items():
        if name not in hints:
            known = ", ".join(sorted(f.name for f in dataclasses.fields(obj)))
            raise ConfigError(f"unknown option {prefix}{name} (known here: {known})", source)
        if isinstance(item, dict):
            changes[name] = _rebuild(getattr(obj, name), item, f"{prefix}{name}.", source)
        else:
            raw, full = item
            changes[name] = _convert(raw, hints[name], full, source)
    try:
        return dataclasses.replace(obj, **changes)
    except ConfigError as exc:  # a __post_init__ refusing the values: name where they came from
        raise _located(exc, source) from None


def _located(exc: ConfigError, source: str | None) -> ConfigError:
    """``exc`` naming ``source`` when it names no file of its own."""
    return ConfigError(exc.problem, source) if exc.path is None and source is not None else exc


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of ``cls``, updated from TOML ``path`` (if given), then from ``overrides``."""
    cfg = cls()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("config file not found", p)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ConfigError(f"not valid TOML: {' '.join(str(exc).split())[:200]}", p) from None
        except OSError as exc:
            raise ConfigError(f"cannot read ({exc.strerror or type(exc).__name__})", p) from None
        cfg = from_dict(cls, _merge(to_dict(cfg), data), source=str(p))
    return apply_overrides(cfg, overrides)


def _merge(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in new.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass -> plain dict (Paths as strings), suitable for JSON/TOML and checkpoints."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v

    return conv(cfg)
