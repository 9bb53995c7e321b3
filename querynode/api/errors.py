"""The one table from domain errors to gRPC status codes and HTTP problem+json (RFC 9457)."""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from querynode.domain import errors as e


@dataclass(frozen=True)
class Mapping:
    grpc_code: grpc.StatusCode
    http_status: int
    title: str


ERROR_TABLE: dict[type[e.QueryError], Mapping] = {
    e.InvalidArgument: Mapping(grpc.StatusCode.INVALID_ARGUMENT, 400, "请求参数无效"),
    e.Unauthenticated: Mapping(grpc.StatusCode.UNAUTHENTICATED, 401, "Authentication required"),
    e.PermissionDenied: Mapping(grpc.StatusCode.PERMISSION_DENIED, 403, "Not permitted"),
    e.NotFound: Mapping(grpc.StatusCode.NOT_FOUND, 404, "Not found"),
    e.ResourceExhausted: Mapping(grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "Too many requests"),
    e.DeadlineExceeded: Mapping(grpc.StatusCode.DEADLINE_EXCEEDED, 504, "Deadline exceeded"),
    e.AuditUnavailable: Mapping(grpc.StatusCode.UNAVAILABLE, 503, "Audit trail unavailable"),
    e.Unimplemented: Mapping(grpc.StatusCode.UNIMPLEMENTED, 501, "Not implemented"),
}
INTERNAL = Mapping(grpc.StatusCode.INTERNAL, 500, "Internal error")


def mapping_for(exc: BaseException) -> Mapping:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return INTERNAL


def problem(exc: BaseException, instance: str = "") -> tuple[int, dict]:
    """HTTP status and problem+json body for an error."""
    m = mapping_for(exc)
    body: dict = {
        "type": f"https://querynode.example/problems/{getattr(exc, 'reason', 'INTERNAL').lower()}",
        "title": m.title,
        "status": m.http_status,
        "detail": exc.message if isinstance(exc, e.QueryError) else "unexpected error; see the node log",
    }
    if instance:
        body["instance"] = instance
    if isinstance(exc, e.InvalidArgument):
        # name: the field's path; code: a stable machine code; reason: Chinese, naming the field
        body["invalid_params"] = [{"name": v.field, "code": v.code, "reason": v.message} for v in exc.violations]
    return m.http_status, body
