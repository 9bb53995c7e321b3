"""The QueryNode gRPC service: thin, every lookup goes through `Hub.execute`.

The lookup rpcs are not methods here: `method_handlers` builds the service's
`/querynode.v1.QueryNode/<Method>` table from the proto's service descriptor and the
operation registry (grpcio's generic handlers, as the generated code does from servicer
methods), and refuses to start when an rpc has no declared operation or an operation names
an rpc the service lacks. Only the case rpcs, which are not department lookups, are methods.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from querynode.api.errors import mapping_for
from querynode.api.grpc import convert
from querynode.api.grpc.observing import ObservingInterceptor, add_health_and_reflection
from querynode.core.casecheck import CaseChecker
from querynode.core.hub import Hub
from querynode.core.operations import Operation, Registry, RegistryError, registry
from querynode.domain import errors as e
from querynode.domain.model import RequestContext
from querynode.observability.calls import request_id_for
from querynode.observability.health import AuditWatch
from querynode.security.authentication import (
    UNAUTHENTICATED_CALLER,
    Authenticator,
    audit_refusal,
    is_loopback,
)
from querynode.security.masking import present
from querynode.v1 import querynode_pb2 as pb
from google.protobuf.message_factory import GetMessageClass

log = logging.getLogger("querynode.grpc")
SERVICE = pb.DESCRIPTOR.services_by_name["QueryNode"]
CASE_RPCS = ("CheckCase", "CheckCaseStream", "GetCaseResult")  # methods of QueryNodeServicer


def rich_status(exc: BaseException) -> grpc.Status:
    """grpc.Status with google.rpc details: BadRequest for invalid input, ErrorInfo otherwise."""
    mapping = mapping_for(exc)
    message = exc.message if isinstance(exc, e.QueryError) else "internal error; see the node log"
    detail = any_pb2.Any()
    if isinstance(exc, e.InvalidArgument):
        detail.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, reason=v.code, description=v.message)
            for v in exc.violations
        ]))
    else:
        detail.Pack(error_details_pb2.ErrorInfo(reason=getattr(exc, "reason", "INTERNAL"), domain="querynode"))
    status = status_pb2.Status(code=getattr(code_pb2, mapping.grpc_code.name), message=message, details=[detail])
    return rpc_status.to_status(status)


class QueryNodeServicer:
    def __init__(self, hub: Hub, *, cases: CaseChecker | None = None, caller_of=None,
                 anonymous_caller: str = "local-demo") -> None:
        self.hub = hub
        self.cases = cases
        self._caller_of = caller_of or (lambda context: anonymous_caller)

    def _context(self, request, context: grpc.aio.ServicerContext) -> RequestContext:
        if not request.HasField("context"):
            raise e.invalid("context", "CONTEXT_REQUIRED")
        fields = convert.context(request.context)
        remaining = context.time_remaining()
        deadline = asyncio.get_running_loop().time() + remaining if remaining is not None else None
        return RequestContext(
            caller=self._caller_of(context), request_id=request_id_for(fields.pop("request_id")),
            deadline=deadline, **fields,
        )

    def lookup(self, op: Operation, response_type):
        """The behaviour of one lookup rpc."""

        async def behaviour(request, context: grpc.aio.ServicerContext):
            try:
                ctx = self._context(request, context)
                answer = await self.hub.execute(ctx, convert.query(op, request))
                answer = dataclasses.replace(
                    answer, result=present(answer.result, self.hub.authorizer.view_for(ctx.caller)))
                return convert.response(op, response_type, answer)
            except Exception as exc:  # noqa: BLE001 - mapped to a status, never crashes the node
                await self._audit_if_unauthenticated(exc, op.name, request, op.department)
                status = self._status_of(exc, op.name)
            await context.abort(status.code, status.details, status.trailing_metadata)

        return behaviour

    async def CheckCase(self, request, context):
        try:
            ctx = self._context(request, context)
            return convert.case_response(await self._cases().check(ctx, convert.case_request(request)))
        except Exception as exc:  # noqa: BLE001 - mapped to a status, never crashes the node
            await self._audit_if_unauthenticated(exc, "CheckCase", request)
            status = self._status_of(exc, "CheckCase")
        await context.abort(status.code, status.details, status.trailing_metadata)

    async def CheckCaseStream(self, request, context):
        try:
            ctx = self._context(request, context)
            async for event in self._cases().stream(ctx, convert.case_request(request)):
                if isinstance(event, dict):
                    yield pb.CheckCaseEvent(check=convert.case_check(event))
                else:
                    yield pb.CheckCaseEvent(summary=convert.case_response(event))
            return
        except Exception as exc:  # noqa: BLE001
            await self._audit_if_unauthenticated(exc, "CheckCaseStream", request)
            status = self._status_of(exc, "CheckCaseStream")
        await context.abort(status.code, status.details, status.trailing_metadata)

    async def GetCaseResult(self, request, context):
        try:
            # Only the caller system that ran the case gets it (else NOT_FOUND); audited either way.
            return convert.case_response(await self._cases().result(self._context(request, context), request.handle))
        except Exception as exc:  # noqa: BLE001
            await self._audit_if_unauthenticated(exc, "GetCaseResult", request)
            status = self._status_of(exc, "GetCaseResult")
        await context.abort(status.code, status.details, status.trailing_metadata)

    async def _audit_if_unauthenticated(self, exc: BaseException, op_name: str, request,
                                        department: str = "case") -> None:
        """A call refused at the door leaves an audit record too (caller unknown)."""
        if not isinstance(exc, e.Unauthenticated):
            return
        fields = convert.context(request.context) if request.HasField("context") else {}
        ctx = RequestContext(
            case_number=fields.get("case_number", "")[:64], operator_id=fields.get("operator_id", "")[:64],
            purpose=fields.get("purpose", "")[:200], caller=UNAUTHENTICATED_CALLER,
            request_id=request_id_for(fields.get("request_id", "")))
        await audit_refusal(self.hub.audit, ctx, op_name, department, exc)

    def _cases(self) -> CaseChecker:
        if self.cases is None:
            raise e.Unimplemented("case checks are not configured on this node")
        return self.cases

    @staticmethod
    def _status_of(exc: BaseException, method: str) -> grpc.Status:
        if not isinstance(exc, e.QueryError):
            log.exception("unexpected error in %s", method, exc_info=exc)
        return rich_status(exc)


def method_handlers(servicer: QueryNodeServicer, operations: Registry) -> dict[str, grpc.RpcMethodHandler]:
    """Method name -> handler for every rpc of QueryNode; RegistryError when an rpc has no
    declaration, a declaration no rpc, or an rpc's messages do not fit its operation."""
    declared = {op.rpc: op for op in operations.operations.values() if op.rpc}
    handlers, problems = {}, []
    for method in SERVICE.methods:
        if method.name in CASE_RPCS:
            behaviour = getattr(servicer, method.name)
        elif method.name in declared:
            op = declared.pop(method.name)
            problems += [f"{op.name}: {p}" for p in convert.check(op, method.input_type, method.output_type)]
            if f"DEPARTMENT_{op.department.upper()}" not in pb.Department.DESCRIPTOR.values_by_name:
                problems.append(f"{op.name}: the proto's Department has no DEPARTMENT_{op.department.upper()}")
            behaviour = servicer.lookup(op, method.output_type)
        else:
            problems.append(f"rpc {method.name} has no declared operation")
            continue
        make = grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(behaviour, request_deserializer=GetMessageClass(method.input_type).FromString,
                                     response_serializer=GetMessageClass(method.output_type).SerializeToString)
    problems += [f"{op.name}: declares rpc {name}, which {SERVICE.full_name} does not have"
                 for name, op in declared.items()]
    if problems:
        raise RegistryError("; ".join(problems))
    return handlers


async def start_grpc_server(hub: Hub, host: str, port: int, *, anonymous_caller: str,
                            cases: CaseChecker | None = None,
                            audit_watch: AuditWatch | None = None, authenticator: Authenticator | None = None,
                            credentials: grpc.ServerCredentials | None = None,
                            reuse_port: bool = False) -> tuple[grpc.aio.Server, int]:
    """Start the gRPC server; returns it and the bound port (port 0 picks a free one).
    `reuse_port` lets worker processes share the port (SO_REUSEPORT); without it a port
    another server holds is an error, not a silent share.

    With `credentials` (TLS or mutual TLS) the authenticator names the caller. Without them
    the port is plain text and must be on a loopback host (tests, the embedded demo); calls
    then run as `anonymous_caller` unless they carry a valid bearer token.
    """
    if credentials is None and not is_loopback(host):
        raise ValueError(f"plain-text gRPC is only served on a loopback host, not {host}; configure TLS")
    server = grpc.aio.server(interceptors=[ObservingInterceptor(
                                 hub.audit, authenticator.grpc_caller if authenticator else lambda c: anonymous_caller)],
                             options=[("grpc.max_receive_message_length", 1024 * 1024),
                                      ("grpc.so_reuseport", 1 if reuse_port else 0)])
    servicer = QueryNodeServicer(hub, cases=cases, anonymous_caller=anonymous_caller,
                                 caller_of=authenticator.grpc_caller if authenticator else None)
    handlers = method_handlers(servicer, registry())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)
    await add_health_and_reflection(server, audit_watch)
    if credentials is None:
        bound = server.add_insecure_port(f"{host}:{port}")
    else:
        bound = server.add_secure_port(f"{host}:{port}", credentials)
    await server.start()
    return server, bound
