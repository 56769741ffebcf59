"""Typed results that carry their own shape: the base of every summary written to or read from a run folder.

A result is a frozen dataclass deriving from ``Record``. ``to_json()`` gives the JSON object written today,
key for key and in the same order (its fields, in declaration order; a field's JSON name may differ with
``key(...)``; ``omit_if_none(...)`` leaves a key out when the value is None, as some writers always did);
keys a newer writer added that this version does not know are kept in ``extra`` and written back unchanged.
``from_json()`` checks every value against the field's annotation (nested records, lists, tuples, dicts,
optional values) and names the first wrong one by its path, so a misspelled key or a damaged file is one
ValueError, not a ``KeyError`` at the end of a long job. A record with a ``SCHEMA`` checks its
``schema_version`` first. Standard library only.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, TypeVar, Union

R = TypeVar("R", bound="Record")
_MISSING = dataclasses.MISSING


def key(name: str, **kwargs: Any) -> Any:
    """A field whose JSON key is ``name`` (a JSON name that is no identifier, e.g. ``"1_fake"``)."""
    return dataclasses.field(metadata={"key": name}, **kwargs)


def omit_if_none(**kwargs: Any) -> Any:
    """A field left out of the JSON object when it is None (the writer never wrote it then)."""
    kwargs.setdefault("default", None)
    return dataclasses.field(metadata={"omit_if_none": True}, **kwargs)


def to_plain(value: Any) -> Any:
    """Records, tuples and nested containers as plain JSON values (records by their ``to_json``)."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


class RecordError(ValueError):
    """A JSON value that does not have the shape its record describes."""


def _fail(path: str, expected: str, value: Any) -> RecordError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return RecordError(f"{path}: expected {expected}, got {shown}")


def _load(tp: Any, value: Any, path: str) -> Any:
    """``value`` (from JSON) as type ``tp``; RecordError naming ``path`` when it does not fit."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise _fail(path, " or ".join(getattr(o, "__name__", str(o)) for o in options), value)
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _load(option, value, path)
            except RecordError as exc:
                errors.append(exc)
        raise errors[0]
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_json(value, path=path)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(path, "a list", value)
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _fail(path, f"a list of {len(args)}", value)
            return tuple(_load(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        loaded = [_load(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(loaded) if (origin is tuple or tp is tuple) else loaded
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _fail(path, "an object", value)
        args = typing.get_args(tp)
        item = args[1] if len(args) == 2 else Any
        return {k: _load(item, v, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, "a number", value)
        return value  # ints stay ints: the JSON written back is the JSON read
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, "an integer", value)
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise _fail(path, "a string" if tp is str else "true or false", value)
        return value
    if typing.get_origin(tp) is typing.Literal:
        if value not in typing.get_args(tp):
            raise _fail(path, " or ".join(map(repr, typing.get_args(tp))), value)
        return value
    return value


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of the typed results (see the module docstring). Subclasses are frozen dataclasses."""
    SCHEMA: ClassVar[int | None] = None  # schema_version a top-level summary carries, checked by from_json
    NAME: ClassVar[str] = ""  # what the record is, for error messages ("summary.json")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_if_none"):
                continue
            out[f.metadata.get("key", f.name)] = to_plain(value)
        extra = getattr(self, "extra", None)
        if extra:
            out.update({k: to_plain(v) for k, v in extra.items() if k not in out})
        return out

    @classmethod
    def from_json(cls: type[R], data: Any, *, path: str | None = None) -> R:
        path = path or cls.NAME or cls.__name__
        if not isinstance(data, dict):
            raise _fail(path, "an object", data)
        if cls.SCHEMA is not None:
            version = data.get("schema_version")
            if version != cls.SCHEMA:
                raise RecordError(f"{path}: schema_version {version!r} is not {cls.SCHEMA}, the version this "
                                  f"aigc_explain reads")
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        known = set()
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            name = f.metadata.get("key", f.name)
            known.add(name)
            if name not in data:
                if f.default is _MISSING and f.default_factory is _MISSING:
                    raise RecordError(f"{path}: lacks {name!r}")
                continue
            values[f.name] = _load(hints[f.name], data[name], f"{path}.{name}")
        if "extra" in {f.name for f in dataclasses.fields(cls)}:
            values["extra"] = {k: v for k, v in data.items() if k not in known}
        return cls(**values)

    def replace(self: R, **changes: Any) -> R:
        return dataclasses.replace(self, **changes)
