"""Input limits kept with the query fields they limit.

A query dataclass declares each field with `param(...)`: its Chinese label, its length or
range limits and a hint. The JSON door's OpenAPI, the clerk form's `maxlength` and the
hub's validation all read them from here, so one field has one set of limits.

The length limits of each kind of value (an ID number, a credit code, a person's name ...)
are declared once below: the kind's validator (domain/identifiers.py, names.py) applies them
to the normalised value, and every field holding that kind declares `param(limits=KIND)`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

_KEY = "querynode.param"


@dataclass(frozen=True)
class Limits:
    """How long a kind of value may be once normalised."""

    max_length: int
    min_length: int = 0


ID_NUMBER = Limits(max_length=18, min_length=15)  # GB 11643 (15: legacy and old foreigners' cards)
PERSON_NAME = Limits(max_length=30, min_length=1)
CREDIT_CODE = Limits(max_length=18)  # GB 32100
LICENSE_CODE = Limits(max_length=15)
CASE_NUMBER = Limits(max_length=40)  # 案号
DIVISION_CODE = Limits(max_length=12)  # GB/T 2260 (6) or statistical (12)
ORGANIZATION_NAME = Limits(max_length=100, min_length=2)
PLACE_NAME = Limits(max_length=50, min_length=1)
PROPERTY_UNIT = Limits(max_length=40)  # 不动产单元号 (28 characters, with room for older forms)
ADDRESS = Limits(max_length=200)  # 坐落


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
    limits: Limits | None = None  # the kind of value, where max_length and min_length come from


def param(label: str, *, default: Any = dataclasses.MISSING, limits: Limits | None = None, **rest: Any) -> Any:
    """A dataclass field with its Param: `id_number: str = param("公民身份号码", limits=ID_NUMBER)`.
    A value of a kind declared above takes the kind's limits; any other states its own."""
    if limits is not None:
        rest |= {"max_length": limits.max_length, "min_length": limits.min_length}
    return dataclasses.field(default=default, metadata={_KEY: Param(label, limits=limits, **rest)})


def param_of(field: dataclasses.Field) -> Param | None:
    return field.metadata.get(_KEY)


def required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
