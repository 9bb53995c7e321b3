"""The operation and department registry: each lookup declared once, everything else derived.

A department package declares itself and its operations in `connectors/<name>/declaration.py`:

    DEPARTMENT = Department("death", "国家卫生健康委", default_port=18005, cache_ttl_seconds=120,
                            connector="connectors.death.client:DeathConnector")
    OPERATIONS = (Operation(name="QueryDeath", department="death", ...),)

`registry()` discovers those modules (like Django's autodiscover: every subpackage of
`connectors` with a `declaration` module) and checks each declaration when it is registered
(like pluggy's `_verify_hook`): a misdeclared department fails at start-up, never at the first
request. From the registry the node derives its gRPC service, message conversion, JSON routes,
OpenAPI document, clerk forms and labels, masking, metric labels and authorization scopes; no
module under querynode/ lists departments or operations.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from querynode.domain.fields import param_of

DECLARATION_PACKAGES = ("connectors",)
# View levels a caller may be given besides "full" (security/authorization.py View); every
# operation must say how its result looks in each, or the node does not start.
MASKED_VIEWS = ("masked", "verdict")
VERDICTS = ("FOUND", "NOT_FOUND", "PENDING", "MATCH", "MISMATCH")


class RegistryError(Exception):
    """A department or operation is misdeclared; raised when it registers (at start-up)."""


@dataclass(frozen=True)
class Department:
    """A department as the node knows it; declared in its package's declaration.py."""

    name: str  # config section, metric label, audit department: lower_snake ("place_name")
    title: str  # Chinese name shown to clerks ("民政部（地名）")
    default_port: int  # the mock's port and the embedded default url http://127.0.0.1:<port>
    cache_ttl_seconds: float  # short for facts that change, long for slow registers
    connector: str  # "package.module:Class", wired by configuration


@dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclass(frozen=True)
class Card:
    title: str
    rows: tuple[Row, ...]


# What a badge's colour says for the registration (pages/present.py): good, needs a person's
# attention, stands in the way, the department did not answer, an old cached answer, a plain fact.
TONES = ("good", "attention", "blocked", "unavailable", "stale", "info")


@dataclass(frozen=True)
class Badge:
    text: str  # Chinese
    tone: str  # one of TONES

    def __post_init__(self) -> None:
        if self.tone not in TONES:
            raise ValueError(f"badge tone {self.tone!r} is not one of {TONES}")


@dataclass(frozen=True)
class Form:
    """The clerk's lookup page of an operation; its fields come from the query type's params."""

    slug: str  # /lookup/<slug>
    subject: Callable[[Any], str]  # the query as the page heads it, masked
    cards: Callable[[Any], list[Card]]  # a (full) result as the page shows it, masked
    note: str = ""
    # The verdict badge of a result, (query, result) -> Badge, coloured by what the result means
    # for a registration (a death record stands in the way). None: the page badges the verdict
    # (FOUND 已查到, NOT_FOUND 未查到, ...) in neutral colours, since found is not good news.
    badge: Callable[[Any, Any], Badge] | None = None


@dataclass(frozen=True)
class Operation:
    """One lookup, declared once."""

    name: str  # rpc name, audit operation, metric label ("QueryDeath")
    department: str  # the registered department that answers it
    query_type: type  # dataclass; each field declared with querynode.domain.fields.param
    result_type: type  # dataclass the connector returns
    label: str  # Chinese name (clerk pages, history)
    summary: str  # one line for the OpenAPI document
    http_path: str  # JSON route: POST /api/v1/...
    # Found / not found (and MATCH, MISMATCH, PENDING where the result says more): one of VERDICTS.
    verdict: Callable[[Any], str]
    # Normalise a query: (query, warnings), or raise InvalidArgument. Limits are checked before.
    validate: Callable[[Any], tuple[Any, list[str]]]
    # The result as each masked view level shows it; every level of MASKED_VIEWS is required.
    masking: Mapping[str, Callable[[Any], Any]]
    form: Form
    # The gRPC method of this name in querynode.v1.QueryNode; its request and response messages
    # convert by field name (api/grpc/convert.py). None: served over JSON and pages only.
    rpc: str | None = None
    scope: str = ""  # what a caller's `operations` list names to allow it; default: name

    def __post_init__(self) -> None:
        if not self.scope:
            object.__setattr__(self, "scope", self.name)


def found_if(found: Callable[[Any], bool]) -> Callable[[Any], str]:
    """The verdict rule of a plain lookup: FOUND when `found(result)`, else NOT_FOUND."""
    return lambda result: "FOUND" if found(result) else "NOT_FOUND"


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SLUG = re.compile(r"^[a-z][a-z0-9-]*$")
_SIMPLE = (str, int, bool)


@cache
def field_type(cls: type, name: str) -> Any:
    """The type of a dataclass field, without its `| None`."""
    tp = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if args else tp


def _unique_keys(op: Operation) -> set[tuple[str, str]]:
    """What no two operations may share: name, route, form slug, scope and rpc."""
    keys = {("name", op.name), ("http_path", op.http_path), ("slug", op.form.slug), ("scope", op.scope)}
    return keys | ({("rpc", op.rpc)} if op.rpc else set())


@dataclass
class Registry:
    departments: dict[str, Department] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)  # by name, in registration order
    _by_query: dict[type, Operation] = field(default_factory=dict)
    _by_result: dict[type, Operation] = field(default_factory=dict)
    _by_path: dict[str, Operation] = field(default_factory=dict)

    # -- registration

    def register(self, department: Department, operations: Iterable[Operation]) -> None:
        """Check a department and its operations against each other and everything registered;
        add them all or nothing."""
        operations = tuple(operations)
        problems = self._problems(department, operations)
        if problems:
            raise RegistryError(f"department {department.name!r}: " + "; ".join(problems))
        self.departments[department.name] = department
        for op in operations:
            self.operations[op.name] = op
            self._by_query[op.query_type] = op
            self._by_result[op.result_type] = op
            self._by_path[op.http_path] = op

    def unregister(self, name: str) -> None:
        """Remove a department and its operations (tests that register a throwaway one)."""
        self.departments.pop(name)
        for op in [op for op in self.operations.values() if op.department == name]:
            del self.operations[op.name], self._by_query[op.query_type], self._by_result[op.result_type]
            del self._by_path[op.http_path]

    def _problems(self, dept: Department, operations: tuple[Operation, ...]) -> list[str]:
        problems = []
        if not _NAME.match(dept.name):
            problems.append("name must be lower_snake_case")
        if dept.name in self.departments:
            problems.append("already registered")
        if not dept.title:
            problems.append("no Chinese title")
        if ":" not in dept.connector:
            problems.append("connector must be 'package.module:Class'")
        if any(d.default_port == dept.default_port for d in self.departments.values()):
            problems.append(f"default port {dept.default_port} is taken")
        if not operations:
            problems.append("declares no operation")
        taken = {key for op in self.operations.values() for key in _unique_keys(op)}
        for op in operations:
            problems += [f"{op.name}: {p}" for p in self._operation_problems(dept, op, taken)]
            taken |= _unique_keys(op)
        return problems

    def _operation_problems(self, dept: Department, op: Operation, taken: set) -> list[str]:
        problems = []
        if op.department != dept.name:
            problems.append(f"declared for department {op.department!r}")
        problems += [f"{attr} {value!r} is already registered" for attr, value in _unique_keys(op) & taken]
        if not op.http_path.startswith("/api/v1/"):
            problems.append("http_path must start with /api/v1/")
        if not _SLUG.match(op.form.slug):
            problems.append("form slug must be lower-case-with-dashes")
        if not op.label:
            problems.append("no Chinese label")
        missing = [view for view in MASKED_VIEWS if not callable(op.masking.get(view))]
        if missing:
            problems.append(f"no masking for view {', '.join(missing)} (fail closed: results are never shown unmasked)")
        for tp, what in ((op.query_type, "query"), (op.result_type, "result")):
            if not dataclasses.is_dataclass(tp):
                problems.append(f"{what} type must be a dataclass")
            elif tp in self._by_query or tp in self._by_result:
                problems.append(f"{what} type {tp.__name__} belongs to another operation")
        if dataclasses.is_dataclass(op.query_type):
            for f in dataclasses.fields(op.query_type):
                p = param_of(f)
                if p is None:
                    problems.append(f"query field {f.name} has no param() (label and limits)")
                elif field_type(op.query_type, f.name) not in _SIMPLE:
                    problems.append(f"query field {f.name} must be str, int or bool")
                elif field_type(op.query_type, f.name) is str and p.max_length is None:
                    problems.append(f"query field {f.name} has no max_length")
        return problems

    # -- lookups

    def operation_for(self, query: object) -> Operation:
        """The operation a query belongs to; LookupError for a type no operation declares."""
        try:
            return self._by_query[type(query)]
        except KeyError:
            raise LookupError(f"no operation declares the query type {type(query).__name__}") from None

    def operation_of_result(self, result: object) -> Operation:
        """The operation a result belongs to; LookupError for a type no operation declares."""
        try:
            return self._by_result[type(result)]
        except KeyError:
            raise LookupError(f"no operation declares the result type {type(result).__name__}") from None

    def operation_at(self, http_path: str) -> Operation | None:
        """The operation of a JSON route, if the path is one."""
        return self._by_path.get(http_path)

    def department(self, name: str) -> Department:
        return self.departments[name]

    def title_of(self, department: str) -> str:
        """The Chinese name of a department, or the name itself for one not registered."""
        dept = self.departments.get(department)
        return dept.title if dept else department


def discover(packages: Iterable[str] = DECLARATION_PACKAGES) -> Registry:
    """A registry of every `<package>.<department>.declaration` module (DEPARTMENT, OPERATIONS)."""
    declared = []
    for package_name in packages:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.ispkg:
                continue
            module_name = f"{package_name}.{info.name}.declaration"
            if importlib.util.find_spec(module_name) is None:
                continue  # connectors.base, relays: not departments
            module = importlib.import_module(module_name)
            dept, ops = getattr(module, "DEPARTMENT", None), getattr(module, "OPERATIONS", None)
            if not isinstance(dept, Department) or not isinstance(ops, tuple):
                raise RegistryError(f"{module_name} must define DEPARTMENT (a Department) and OPERATIONS (a tuple)")
            if dept.name != info.name:
                raise RegistryError(f"{module_name} declares department {dept.name!r}; the package is {info.name!r}")
            declared.append((dept, ops))
    registry = Registry()
    for dept, ops in sorted(declared, key=lambda d: d[0].default_port):  # a stable order for lists and pages
        registry.register(dept, ops)
    return registry


@cache
def registry() -> Registry:
    """The node's registry, discovered once (the first call is at start-up)."""
    return discover()


def operation_for(query: object) -> Operation:
    return registry().operation_for(query)
