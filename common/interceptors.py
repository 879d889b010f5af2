"""Shared plumbing of the server interceptors: wrapping a method handler's behaviour, whatever its kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc

Behaviour = Callable[..., Any]

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


def rewrap_handler(
    handler: grpc.RpcMethodHandler[RequestT, ResponseT],
    wrap_unary_response: Callable[[Behaviour], Behaviour],
    wrap_stream_response: Callable[[Behaviour], Behaviour],
    request_deserializer: Callable[[bytes], RequestT] | None = None,
) -> grpc.RpcMethodHandler[RequestT, ResponseT]:
    """The same handler with its behaviour wrapped: ``wrap_unary_response`` for unary-unary and stream-unary
    methods (a coroutine), ``wrap_stream_response`` for unary-stream and stream-stream (an async generator);
    ``request_deserializer`` replaces the handler's own when given."""
    kinds = (
        ("unary_unary", grpc.unary_unary_rpc_method_handler, wrap_unary_response),
        ("unary_stream", grpc.unary_stream_rpc_method_handler, wrap_stream_response),
        ("stream_unary", grpc.stream_unary_rpc_method_handler, wrap_unary_response),
        ("stream_stream", grpc.stream_stream_rpc_method_handler, wrap_stream_response),
    )
    for attribute, factory, wrap in kinds:
        behaviour = getattr(handler, attribute)
        if behaviour is not None:
            return factory(
                wrap(behaviour),
                request_deserializer=request_deserializer or handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler
