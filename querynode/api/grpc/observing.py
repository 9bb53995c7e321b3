"""What the gRPC door adds: a call-observing interceptor (metrics, JSON log line,
`x-request-id` in the trailing metadata of a unary call, in the initial metadata of a
streaming one; the caller's address on every audit record of the
call; refused unauthenticated traffic rate-limited per address; a message that does not
decode refused as INVALID_ARGUMENT and audited, without naming the parser's exception; any
other refusal the hub never saw audited), the standard health service driven by the audit
watch, and server reflection."""
from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from querynode.core.audit import UNAUTHENTICATED_CALLER, AuditTrail, call_audited, call_scope
from querynode.core.operations import registry
from querynode.domain.model import RequestContext
from querynode.observability.calls import accept_request_id, observe_call
from querynode.observability.health import AuditWatch
from querynode.observability.stages import stage
from querynode.security.door import grpc_peer_address
from querynode.v1 import querynode_pb2

QUERYNODE_SERVICE = querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"].full_name
_PREFIX = f"/{QUERYNODE_SERVICE}/"


class _Undecodable:
    """What a request that does not parse becomes: the call is refused, not crashed."""


UNDECODABLE = _Undecodable()


def _safe(deserializer):
    if deserializer is None:
        return None

    def load(data: bytes):
        try:
            with stage("decode"):
                return deserializer(data)
        except Exception:  # noqa: BLE001 - DecodeError and whatever a parser raises on garbage
            return UNDECODABLE
    return load


def _timed_encode(serializer):
    if serializer is None:
        return None

    def dump(message) -> bytes:
        with stage("encode"):
            return serializer(message)
    return dump


def _request_id(request) -> str:
    if request is UNDECODABLE:
        return accept_request_id("")
    offered = request.context.request_id if request.HasField("context") else ""
    return accept_request_id(offered)


class _AuditingContext:
    """The servicer's context, whose `abort` first puts the refusal on record (unless the hub
    did): the record exists before the caller has the answer. `trailing` (the request id of a
    unary call) goes with any trailing metadata the abort sends."""

    def __init__(self, context, before_abort, trailing: tuple = ()) -> None:
        self._context = context
        self._before_abort = before_abort
        self._trailing = trailing

    async def abort(self, code, details: str = "", trailing_metadata=()):
        await self._before_abort(code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN")
        await self._context.abort(code, details, (*self._trailing, *trailing_metadata))

    def __getattr__(self, name):
        return getattr(self._context, name)


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Observe every QueryNode call; health and reflection calls pass unobserved.

    With `audit` (the hub's trail) and `caller_of` (the door's authenticator) the door's own
    refusals are audited and unauthenticated traffic is rate-limited per address."""

    def __init__(self, audit: AuditTrail | None = None, caller_of=None) -> None:
        self.audit = audit
        self.caller_of = caller_of

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or not details.method.startswith(_PREFIX):
            return handler
        operation = details.method[len(_PREFIX):]
        credentials = any(key == "authorization" for key, _ in details.invocation_metadata or ())
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request, context):
                request_id = _request_id(request)
                # The id goes with the status in the last write: sending initial metadata on its
                # own costs the event loop one more write batch per call (40-75 µs on a bare echo).
                trailing = (("x-request-id", request_id),)
                context.set_trailing_metadata(trailing)
                with call_scope(grpc_peer_address(context.peer())), \
                        observe_call("grpc", operation, request_id) as call:
                    try:
                        await self._admit(operation, request, context, request_id, credentials, trailing)
                        reply = await inner(request, self._auditing(context, operation, request_id, trailing))
                    except asyncio.CancelledError:  # the caller went away or its deadline passed
                        call.code = _cancelled_code(context)
                        raise
                    except BaseException:
                        call.code = _failed_code(context)
                        await self._audit_refusal(operation, context, request_id, call.code)
                        raise
                    if _failed_code(context, default="OK") != "OK":
                        await self._audit_refusal(operation, context, request_id, _failed_code(context))
                    return reply

            return grpc.unary_unary_rpc_method_handler(
                unary, request_deserializer=_safe(handler.request_deserializer),
                response_serializer=_timed_encode(handler.response_serializer))
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request, context):
                request_id = _request_id(request)
                with call_scope(grpc_peer_address(context.peer())), \
                        observe_call("grpc", operation, request_id) as call:
                    await context.send_initial_metadata((("x-request-id", request_id),))
                    try:
                        await self._admit(operation, request, context, request_id, credentials)
                        async for item in inner_stream(request, self._auditing(context, operation, request_id)):
                            yield item
                    except (GeneratorExit, asyncio.CancelledError):
                        call.code = _cancelled_code(context)
                        raise
                    except BaseException:
                        call.code = _failed_code(context)
                        await self._audit_refusal(operation, context, request_id, call.code)
                        raise

            return grpc.unary_stream_rpc_method_handler(
                stream, request_deserializer=_safe(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        return handler

    async def _admit(self, operation: str, request, context, request_id: str, credentials: bool,
                     trailing: tuple = ()) -> None:
        """Refuse (abort) an undecodable message, or a call without credentials from an
        address over its limit of refusals; both on record."""
        source_over = (self.audit is not None and not credentials and not _has_certificate(context)
                       and self.caller_of is not None and self.audit.refusals.over_limit(_source(context)))
        context = self._auditing(context, operation, request_id, trailing)
        if source_over:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                "too many refused calls from this address; try again later")
        if request is UNDECODABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "the request message could not be decoded as " + operation + "Request")

    def _auditing(self, context, operation: str, request_id: str, trailing: tuple = ()) -> _AuditingContext:
        return _AuditingContext(context, lambda code: self._audit_refusal(operation, context, request_id, code),
                                trailing)

    async def _audit_refusal(self, operation: str, context, request_id: str, code: str) -> None:
        """A call that failed without a record (refused before the hub): put it on record."""
        if self.audit is None or call_audited() or code in ("OK", "CANCELLED"):
            return
        ctx = RequestContext(case_number="", operator_id="", purpose="",
                             caller=self._caller(context) or UNAUTHENTICATED_CALLER, request_id=request_id)
        op = registry().operations.get(operation)
        await self.audit.record_at_door(ctx, operation, op.department if op is not None else "case", code)

    def _caller(self, context) -> str:
        if self.caller_of is None:
            return ""
        try:
            return self.caller_of(context)
        except Exception:  # noqa: BLE001 - not authenticated: no caller
            return ""


def _source(context) -> str:
    return grpc_peer_address(context.peer())


def _has_certificate(context) -> bool:
    return bool((context.auth_context() or {}).get("x509_common_name"))


def _cancelled_code(context: grpc.aio.ServicerContext) -> str:
    """Why grpc cancelled the call: its deadline passed, or its caller went away. Neither is
    the node's failure, and neither gets a record from the door: a record the hub queued for
    the call is its record (the door writing its own beside it made two)."""
    remaining = context.time_remaining()
    return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"


def _failed_code(context: grpc.aio.ServicerContext, default: str = "INTERNAL") -> str:
    code = context.code()
    if code is None or code == grpc.StatusCode.OK:
        return default
    return code.name if isinstance(code, grpc.StatusCode) else default


async def add_health_and_reflection(server: grpc.aio.Server, watch: AuditWatch | None) -> HealthServicer:
    """Standard `grpc.health.v1.Health` (overall "" and per service) and reflection.

    QueryNode and the overall status follow the audit watch: NOT_SERVING while the audit
    store is not writable (the node refuses every query then) and from the moment the node
    drains on its way down. Without a watch they are SERVING from the start."""
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (QUERYNODE_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server)

    async def follow(ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", QUERYNODE_SERVICE):
            await health.set(service, status)

    if watch is None:
        await follow(True)
    else:
        await watch.subscribe(follow)
    return health
