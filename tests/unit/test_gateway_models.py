"""The REST request bodies cannot drift from the protos: same field names, compatible types, same enum values."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from pydantic import BaseModel

from gateway_service.models import BODIES, SubmitTaskBody

SCALARS = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_INT32: int,
    FieldDescriptor.TYPE_INT64: int,
    FieldDescriptor.TYPE_DOUBLE: float,
}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None``, and whether it is a list."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], True
    return annotation, False


def _check_field(model: type[BaseModel], name: str, field: FieldDescriptor) -> None:
    annotation, is_list = _unwrap(model.model_fields[name].annotation)
    assert is_list == field.is_repeated, f"{model.__name__}.{name}: repeated differs"
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert issubclass(annotation, enum.Enum), f"{model.__name__}.{name} is not an enum"
        assert {m.value for m in annotation} == {v.name for v in field.enum_type.values}, name
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        messages = {message.DESCRIPTOR.full_name: body for body, (message, _) in BODIES.items()}
        assert messages.get(field.message_type.full_name) is annotation, f"{model.__name__}.{name}"
    else:
        assert annotation is SCALARS[field.type], f"{model.__name__}.{name}: {annotation} vs {field.type}"


@pytest.mark.parametrize("model", list(BODIES), ids=lambda m: m.__name__)
def test_each_body_has_exactly_its_messages_fields_with_compatible_types(model: type[BaseModel]) -> None:
    message, from_path = BODIES[model]
    proto_fields = {f.name: f for f in message.DESCRIPTOR.fields if f.name not in from_path}
    assert set(model.model_fields) == set(proto_fields), (
        f"{model.__name__} drifted from {message.DESCRIPTOR.full_name}"
    )
    for name, field in proto_fields.items():
        _check_field(model, name, field)


def test_a_body_becomes_its_message() -> None:
    body = SubmitTaskBody.model_validate(
        {"task": "t", "priority": "PRIORITY_HIGH", "budget": {"max_model_calls": 3}, "request_id": "r"}
    )
    message = body.to_proto(BODIES[SubmitTaskBody][0])
    assert (message.task, message.priority, message.budget.max_model_calls, message.request_id) == (
        "t",
        3,
        3,
        "r",
    )
