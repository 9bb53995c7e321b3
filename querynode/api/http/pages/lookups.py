"""The clerk's lookup forms, one per declared operation (core/operations.py): their fields
from the query type's params, the query built from the form, and how an answer is shown.
Personal data is masked here, on the server: the page never receives a full name or ID
number, not even the ones the clerk typed (the form comes back empty)."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from querynode.api.http.pages.present import Badge, lookup_badges, lookup_warnings, mask_names_in_text
from querynode.core.operations import Card, Operation, Row, field_type, registry
from querynode.domain import model as m
from querynode.domain.fields import param_of, required

__all__ = ["Badge", "Card", "Field", "Lookup", "Shown", "lookups", "show"]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = False
    hint: str = ""
    checkbox: bool = False
    maxlength: int = 100


@dataclass(frozen=True)
class Shown:
    """One answer as the page shows it."""

    badges: tuple[Badge, ...]
    subject: str
    cards: tuple[Card, ...]
    department: str
    source_time: Any
    audit_id: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lookup:
    """The lookup page of one operation."""

    operation: Operation

    @property
    def slug(self) -> str:
        return self.operation.form.slug

    @property
    def title(self) -> str:
        return self.operation.label

    @property
    def department(self) -> str:
        return self.operation.department

    @property
    def department_title(self) -> str:
        return registry().title_of(self.operation.department)

    @property
    def note(self) -> str:
        return self.operation.form.note

    @property
    def fields(self) -> tuple[Field, ...]:
        query_type = self.operation.query_type
        return tuple(
            Field(f.name, p.label, required=required(f), hint=p.hint, checkbox=field_type(query_type, f.name) is bool,
                  maxlength=p.max_length or 100)
            for f in dataclasses.fields(query_type) if (p := param_of(f)).on_form)

    def build(self, form: Mapping[str, str]) -> Any:
        """The query from the posted form: text trimmed, an empty optional field left out."""
        kwargs: dict[str, Any] = {}
        for f in self.fields:
            if f.checkbox:
                kwargs[f.name] = form.get(f.name) == "on"
                continue
            value = form.get(f.name, "").strip()
            if value or f.required:
                kwargs[f.name] = value
        return self.operation.query_type(**kwargs)

    def subject(self, query: Any) -> str:
        return self.operation.form.subject(query)

    def cards(self, result: Any) -> list[Card]:
        return self.operation.form.cards(result)


def lookups() -> dict[str, Lookup]:
    """Slug -> lookup page, in registry order."""
    return {op.form.slug: Lookup(op) for op in registry().operations.values()}


def show(lookup: Lookup, query: Any, answer: m.Answer) -> Shown:
    """Turn an answer into what the page shows: badges by meaning, masked subject, cards (names
    in free text masked too), provenance, and notes in Chinese with the next step."""
    p = answer.provenance
    cards = [Card(c.title, tuple(Row(r.label, mask_names_in_text(r.value)) for r in c.rows))
             for c in lookup.cards(answer.result)] if answer.result is not None else []
    return Shown(badges=tuple(lookup_badges(query, answer)), subject=lookup.subject(query), cards=tuple(cards),
                 department=registry().title_of(p.department), source_time=p.source_time,
                 audit_id=p.audit_id, warnings=tuple(lookup_warnings(answer)))
