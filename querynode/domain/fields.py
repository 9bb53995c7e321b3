"""Input limits kept with the query fields they limit.

A query dataclass declares each field with `param(...)`: its Chinese label, its length or
range limits and a hint. The JSON door's OpenAPI, the clerk form's `maxlength` and the
hub's validation all read them from here, so one field has one set of limits.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

_KEY = "querynode.param"


@dataclass(frozen=True)
class Param:
    label: str  # Chinese, shown on the clerk form and in its error messages
    max_length: int | None = None  # strings
    min_length: int = 0
    minimum: int | None = None  # integers
    maximum: int | None = None
    hint: str = ""  # below the form field
    description: str = ""  # OpenAPI
    on_form: bool = True  # False: the clerk form leaves it at its default


def param(label: str, *, default: Any = dataclasses.MISSING, **limits: Any) -> Any:
    """A dataclass field with its Param: `id_number: str = param("公民身份号码", max_length=18)`."""
    return dataclasses.field(default=default, metadata={_KEY: Param(label, **limits)})


def param_of(field: dataclasses.Field) -> Param | None:
    return field.metadata.get(_KEY)


def required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
