"""What the gRPC door adds for operators: a call-observing interceptor (metrics, JSON log
line, `x-request-id` in the initial metadata), the standard health service driven by the
audit watch, and server reflection."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from querynode.observability.calls import accept_request_id, observe_call
from querynode.observability.health import AuditWatch
from querynode.v1 import querynode_pb2

QUERYNODE_SERVICE = querynode_pb2.DESCRIPTOR.services_by_name["QueryNode"].full_name
_PREFIX = f"/{QUERYNODE_SERVICE}/"


def _request_id(request) -> str:
    offered = request.context.request_id if request.HasField("context") else ""
    return accept_request_id(offered)


def _failed_code(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) and code != grpc.StatusCode.OK else "INTERNAL"


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Observe every QueryNode call; health and reflection calls pass unobserved."""

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or not details.method.startswith(_PREFIX):
            return handler
        operation = details.method[len(_PREFIX):]
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request, context):
                request_id = _request_id(request)
                with observe_call("grpc", operation, request_id) as call:
                    await context.send_initial_metadata((("x-request-id", request_id),))
                    try:
                        return await inner(request, context)
                    except Exception:
                        call.code = _failed_code(context)
                        raise

            return grpc.unary_unary_rpc_method_handler(
                unary, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request, context):
                request_id = _request_id(request)
                with observe_call("grpc", operation, request_id) as call:
                    await context.send_initial_metadata((("x-request-id", request_id),))
                    try:
                        async for item in inner_stream(request, context):
                            yield item
                    except GeneratorExit:
                        call.code = "CANCELLED"
                        raise
                    except Exception:
                        call.code = _failed_code(context)
                        raise

            return grpc.unary_stream_rpc_method_handler(
                stream, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler


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
