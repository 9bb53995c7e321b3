"""Domain values to and from JSON-ready data (dicts, lists, strings, numbers).

One codec for every place a result leaves memory: cache values, the JSON API and
verification records. Decoding is strict: an unexpected shape raises ValueError.
"""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from collections.abc import Callable
from functools import cache
from typing import Any


def to_data(value: Any) -> Any:
    names = _field_names(type(value))
    if names is not None:
        return {name: to_data(getattr(value, name)) for name in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_data(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None for any other type), worked out once per type."""
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def from_data(tp: Any, data: Any) -> Any:
    return _decoder(tp)(data)


@cache
def _decoder(tp: Any) -> Callable[[Any], Any]:
    """How data becomes a value of type `tp`: worked out once per type (the type hints, the
    fields, the members of a union), then applied per value."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        optional = type(None) in args
        members = [_decoder(arg) for arg in args if arg is not type(None)]

        def union(data: Any) -> Any:
            if data is None and optional:
                return None
            for member in members:
                try:
                    return member(data)
                except (ValueError, TypeError, KeyError):
                    continue
            raise ValueError(f"no member of {tp} fits")
        return union
    if origin is tuple:
        item = _decoder(typing.get_args(tp)[0])

        def sequence(data: Any) -> tuple:
            if not isinstance(data, list):
                raise ValueError("expected a list")
            return tuple(item(v) for v in data)
        return sequence
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = tuple((f.name, _decoder(hints[f.name])) for f in dataclasses.fields(tp))

        def instance(data: Any) -> Any:
            if not isinstance(data, dict):
                raise ValueError(f"expected an object for {tp.__name__}")
            return tp(**{name: decode(data[name]) for name, decode in fields if name in data})
        return instance
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if tp is datetime:
        return datetime.fromisoformat
    if tp is float:
        def number(data: Any) -> float:
            if isinstance(data, (int, float)) and not isinstance(data, bool):
                return float(data)
            raise ValueError("expected float")
        return number
    if tp in (str, int, bool):
        def exact(data: Any) -> Any:
            if type(data) is tp:
                return data
            raise ValueError(f"expected {tp.__name__}")
        return exact

    def refuse(data: Any) -> Any:
        raise ValueError(f"expected {getattr(tp, '__name__', tp)}")
    return refuse
