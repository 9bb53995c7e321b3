"""Proto messages <-> domain types, by walking both: fields by name, enums by the
`<ENUM>_<MEMBER>` naming rule (protobuf's json_format does the same walk over descriptors).

A query dataclass and its request message share field names; a result dataclass shares its
field names with the response message, which adds `verdict`, `warnings` (where it has it) and
`provenance`. `check` proves that at start-up for every declared rpc, so a missing field is a
start-up error, never a silently empty answer.
"""
from __future__ import annotations

import dataclasses
import enum
import re
import typing
from datetime import datetime
from collections.abc import Callable
from functools import cache
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp

from querynode.core.operations import Operation
from querynode.domain import model as m
from querynode.domain.case import CaseParty, CaseRequest, CaseResult
from querynode.domain.codec import from_data
from querynode.v1 import querynode_pb2 as pb

_CONTEXT = "context"
_ADDED = ("verdict", "warnings", "provenance")  # response fields the result does not carry


def enum_prefix(enum_type: EnumDescriptor) -> str:
    """IdentityVerdict -> IDENTITY_VERDICT (the proto style guide's value prefix)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.name).upper()


@cache
def _enum_numbers(enum_type: EnumDescriptor) -> dict[str, int]:
    """MEMBER -> number, the enum's prefix taken off (IDENTITY_VERDICT_MATCH -> MATCH)."""
    prefix = enum_prefix(enum_type) + "_"
    return {v.name.removeprefix(prefix): v.number for v in enum_type.values}


def context(msg: pb.RequestContext) -> dict:
    return {"case_number": msg.case_number, "operator_id": msg.operator_id, "purpose": msg.purpose,
            "request_id": msg.request_id, "fresh": msg.fresh}


@cache
def _query_plan(query_type: type, request_type: Descriptor) -> tuple[tuple[str, str | None, bool], ...]:
    """Per query field: its name, the oneof it belongs to and whether the query requires it."""
    return tuple((f.name, getattr(request_type.fields_by_name[f.name].containing_oneof, "name", None),
                  f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                 for f in dataclasses.fields(query_type))


def query(op: Operation, request: Message) -> Any:
    """A request message -> the operation's query. A key of a oneof that is not chosen, and a
    field left at its zero value where the query has a default, take the query's default."""
    kwargs = {}
    for name, oneof, required in _query_plan(op.query_type, request.DESCRIPTOR):
        if oneof is not None and request.WhichOneof(oneof) != name:
            continue
        value = getattr(request, name)
        if value or required:
            kwargs[name] = value
    return op.query_type(**kwargs)


def _timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _converter(descriptor: FieldDescriptor) -> Callable[[Any], Any] | None:
    """How one domain value becomes the field's value (None: as it is)."""
    if descriptor.enum_type is not None:
        numbers = _enum_numbers(descriptor.enum_type)
        return lambda value: numbers[value.name if isinstance(value, enum.Enum) else value.upper()]
    if descriptor.message_type is None:
        return None
    if descriptor.message_type.full_name == Timestamp.DESCRIPTOR.full_name:
        return _timestamp
    message_type = descriptor.message_type
    return lambda value: message(message_type, value)


@cache
def _plan(tp: type, message_type: Descriptor) -> tuple[type[Message], tuple]:
    """The message class and, per dataclass field: name, converter, repeated. Built once per
    (type, message): the walk over descriptors costs nothing per call."""
    fields = []
    for f in dataclasses.fields(tp):
        descriptor = message_type.fields_by_name[f.name]
        fields.append((f.name, _converter(descriptor), descriptor.is_repeated))
    return GetMessageClass(message_type), tuple(fields)


def _fields(value: Any, plan: tuple) -> dict[str, Any]:
    kwargs = {}
    for name, convert, repeated in plan:
        item = getattr(value, name)
        if item is None:
            continue
        if convert is None:
            kwargs[name] = item
        elif repeated:
            kwargs[name] = [convert(x) for x in item]
        else:
            kwargs[name] = convert(item)
    return kwargs


def message(message_type: Descriptor, value: Any) -> Message:
    """A dataclass value -> the message whose fields have the same names."""
    cls, plan = _plan(type(value), message_type)
    return cls(**_fields(value, plan))


def provenance(p: m.Provenance) -> pb.Provenance:
    return message(pb.Provenance.DESCRIPTOR, p)


@cache
def _response_plan(message_type: Descriptor) -> tuple[dict[str, int], bool]:
    fields = message_type.fields_by_name
    return _enum_numbers(fields["verdict"].enum_type), "warnings" in fields


def response(op: Operation, message_type: Descriptor, answer: m.Answer) -> Message:
    """The response message of an operation from its answer (result may be None: unavailable):
    the result's fields, then verdict, warnings (where the message has them) and provenance."""
    result = answer.result
    if result is None:
        cls, kwargs, verdict = GetMessageClass(message_type), {}, "SOURCE_UNAVAILABLE"
    else:
        cls, plan = _plan(type(result), message_type)
        kwargs, verdict = _fields(result, plan), op.verdict(result)
    verdicts, has_warnings = _response_plan(message_type)
    kwargs["verdict"] = verdicts[verdict]
    if has_warnings:
        kwargs["warnings"] = answer.warnings
    kwargs["provenance"] = provenance(answer.provenance)
    return cls(**kwargs)


def check(op: Operation, request_type: Descriptor, response_type: Descriptor) -> list[str]:
    """Why the rpc's messages do not fit the operation's types (empty: they fit)."""
    problems = []
    request_fields = set(request_type.fields_by_name) - {_CONTEXT}
    query_fields = {f.name for f in dataclasses.fields(op.query_type)}
    if request_fields != query_fields:
        problems.append(f"{request_type.name} fields {sorted(request_fields)} differ from "
                        f"{op.query_type.__name__} fields {sorted(query_fields)}")
    for name in _ADDED:
        if name not in response_type.fields_by_name and name != "warnings":
            problems.append(f"{response_type.name} has no {name}")
    problems += _fits(op.result_type, response_type)
    return problems


def _fits(tp: type, message_type: Descriptor) -> list[str]:
    """Every field of the dataclass (recursively) has a field of the same name in the message,
    and every member of a domain enum a value of the message's enum."""
    problems = []
    hints = typing.get_type_hints(tp)
    for f in dataclasses.fields(tp):
        descriptor = message_type.fields_by_name.get(f.name)
        if descriptor is None:
            problems.append(f"{message_type.name} has no field {f.name} (of {tp.__name__})")
            continue
        inner = _dataclass_in(tp, f.name)
        if inner is not None and descriptor.message_type is not None:
            problems += _fits(inner, descriptor.message_type)
        members = [a for a in (hints[f.name], *typing.get_args(hints[f.name]))
                   if isinstance(a, type) and issubclass(a, enum.Enum)]
        if descriptor.enum_type is not None and members:
            missing = [x.name for x in members[0] if x.name not in _enum_numbers(descriptor.enum_type)]
            if missing:
                problems.append(f"{descriptor.enum_type.name} has no value for {', '.join(missing)}")
    return problems


def _dataclass_in(tp: type, name: str) -> type | None:
    hint = typing.get_type_hints(tp)[name]
    for candidate in (hint, *typing.get_args(hint)):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


# ------------------------------------------------------------------ case checks

CHECK_STATUS = {"OK": pb.CHECK_STATUS_OK, "ATTENTION": pb.CHECK_STATUS_ATTENTION,
                "UNAVAILABLE": pb.CHECK_STATUS_UNAVAILABLE, "PENDING": pb.CHECK_STATUS_PENDING,
                "STALE": pb.CHECK_STATUS_STALE}
SEVERITY = {"INFO": pb.SEVERITY_INFO, "WARNING": pb.SEVERITY_WARNING, "BLOCKING": pb.SEVERITY_BLOCKING}
CASE_STATUS = {"CLEAR": pb.CASE_STATUS_CLEAR, "NEEDS_ATTENTION": pb.CASE_STATUS_NEEDS_ATTENTION,
               "INCOMPLETE": pb.CASE_STATUS_INCOMPLETE}


def case_request(request: pb.CheckCaseRequest) -> CaseRequest:
    return CaseRequest(
        registration_type=request.registration_type,
        parties=tuple(CaseParty(role=p.role, name=p.name, id_number=p.id_number, credit_code=p.credit_code,
                                organization_name=p.organization_name, license_code=p.license_code)
                      for p in request.parties),
        judgment_case_number=request.judgment_case_number, place_name=request.place_name,
        property_unit=request.property_unit, property_address=request.property_address,
    )


def case_check(entry: dict) -> pb.CaseCheck:
    prov = entry["provenance"]
    provenance_msg = provenance(from_data(m.Provenance, prov)) if prov is not None else None
    return pb.CaseCheck(check_id=entry["check_id"], kind=entry["kind"], role=entry["role"],
                        party_index=entry["party_index"], status=CHECK_STATUS[entry["status"]],
                        summary=entry["summary"], provenance=provenance_msg)


def case_response(result: CaseResult) -> pb.CheckCaseResponse:
    record = result.record
    return pb.CheckCaseResponse(
        status=CASE_STATUS[record["status"]],
        checks=[case_check(c) for c in record["checks"]],
        findings=[pb.Finding(code=x["code"], severity=SEVERITY[x["severity"]], message=x["message"],
                             check_ids=x["check_ids"]) for x in record["findings"]],
        handle=record["handle"], record_id=record["record_id"], record_json=result.record_json,
        record_digest=result.record_digest, record_signature=result.record_signature,
        complete=record.get("complete", True), recheck=record.get("by_hand", []),
        status_text=record.get("status_text", ""),
    )
