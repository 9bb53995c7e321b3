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
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp

from querynode.core.operations import Operation
from querynode.domain import model as m
from querynode.domain.case import CaseParty, CaseRequest, CaseResult
from querynode.v1 import querynode_pb2 as pb

_CONTEXT = "context"
_ADDED = ("verdict", "warnings", "provenance")  # response fields the result does not carry


def enum_prefix(enum_type: EnumDescriptor) -> str:
    """IdentityVerdict -> IDENTITY_VERDICT (the proto style guide's value prefix)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.name).upper()


def enum_number(enum_type: EnumDescriptor, member: Any) -> int:
    """A domain enum member (by name) or a plain string (a department name) -> the proto number."""
    name = member.name if isinstance(member, enum.Enum) else str(member).upper()
    value = enum_type.values_by_name.get(f"{enum_prefix(enum_type)}_{name}")
    if value is None:
        raise ValueError(f"{enum_type.name} has no value for {name}")
    return value.number


def context(msg: pb.RequestContext) -> dict:
    return {"case_number": msg.case_number, "operator_id": msg.operator_id, "purpose": msg.purpose,
            "request_id": msg.request_id, "fresh": msg.fresh}


def query(op: Operation, request: Message) -> Any:
    """A request message -> the operation's query. A key of a oneof that is not chosen, and a
    field left at its zero value where the query has a default, take the query's default."""
    fields = request.DESCRIPTOR.fields_by_name
    kwargs = {}
    for f in dataclasses.fields(op.query_type):
        descriptor = fields[f.name]
        oneof = descriptor.containing_oneof
        if oneof is not None and request.WhichOneof(oneof.name) != f.name:
            continue
        value = getattr(request, f.name)
        if not value and not _required(f):
            continue
        kwargs[f.name] = value
    return op.query_type(**kwargs)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _value(descriptor: FieldDescriptor, value: Any) -> Any:
    if descriptor.enum_type is not None:
        return enum_number(descriptor.enum_type, value)
    if descriptor.message_type is not None:
        if descriptor.message_type.full_name == Timestamp.DESCRIPTOR.full_name:
            return _timestamp(value)
        return message(descriptor.message_type, value)
    return value


def fill(msg: Message, value: Any) -> Message:
    """Set the message's fields from the dataclass fields of the same name."""
    fields = msg.DESCRIPTOR.fields_by_name
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if item is None:
            continue
        descriptor = fields[f.name]
        if descriptor.is_repeated:
            getattr(msg, f.name).extend(_value(descriptor, x) for x in item)
        elif descriptor.message_type is not None:
            getattr(msg, f.name).CopyFrom(_value(descriptor, item))
        else:
            setattr(msg, f.name, _value(descriptor, item))
    return msg


def message(message_type: Descriptor, value: Any) -> Message:
    return fill(_class_of(message_type)(), value)


def _class_of(message_type: Descriptor) -> type[Message]:
    return GetMessageClass(message_type)


def provenance(p: m.Provenance) -> pb.Provenance:
    return message(pb.Provenance.DESCRIPTOR, p)


def response(op: Operation, message_type: Descriptor, answer: m.Answer) -> Message:
    """The response message of an operation from its answer (result may be None: unavailable)."""
    msg = _class_of(message_type)()
    if answer.result is not None:
        fill(msg, answer.result)
    verdict = op.verdict(answer.result) if answer.result is not None else "SOURCE_UNAVAILABLE"
    msg.verdict = enum_number(message_type.fields_by_name["verdict"].enum_type, verdict)
    if "warnings" in message_type.fields_by_name:
        msg.warnings.extend(answer.warnings)
    msg.provenance.CopyFrom(provenance(answer.provenance))
    return msg


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
    """Every field of the dataclass (recursively) has a field of the same name in the message."""
    problems = []
    for f in dataclasses.fields(tp):
        descriptor = message_type.fields_by_name.get(f.name)
        if descriptor is None:
            problems.append(f"{message_type.name} has no field {f.name} (of {tp.__name__})")
            continue
        inner = _dataclass_in(tp, f.name)
        if inner is not None and descriptor.message_type is not None:
            problems += _fits(inner, descriptor.message_type)
    return problems


def _dataclass_in(tp: type, name: str) -> type | None:
    hint = typing.get_type_hints(tp)[name]
    for candidate in (hint, *typing.get_args(hint)):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


# ------------------------------------------------------------------ case checks

CHECK_STATUS = {"OK": pb.CHECK_STATUS_OK, "ATTENTION": pb.CHECK_STATUS_ATTENTION,
                "UNAVAILABLE": pb.CHECK_STATUS_UNAVAILABLE, "PENDING": pb.CHECK_STATUS_PENDING}
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
    )


def case_check(entry: dict) -> pb.CaseCheck:
    prov = entry["provenance"]
    provenance_msg = None
    if prov is not None:
        source_time = datetime.fromisoformat(prov["source_time"]) if prov["source_time"] else None
        provenance_msg = pb.Provenance(
            department=enum_number(pb.Department.DESCRIPTOR, prov["department"]), source_time=_timestamp(source_time),
            from_cache=prov["from_cache"], cache_age_seconds=prov["cache_age_seconds"], stale=prov["stale"],
            audit_id=prov["audit_id"], request_id=prov["request_id"], unavailable_reason=prov["unavailable_reason"])
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
    )
