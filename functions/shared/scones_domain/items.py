"""DynamoDB items and plain documents: the typed attribute values the low-level client reads
and writes (``{"S": ...}``, ``{"N": ...}``, ...) to and from dicts, lists, numbers, strings,
booleans and None. The results and reviews tables' items are built and read with these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": repr(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): _attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_attribute(v) for v in value]}
    if value is None:
        return {"NULL": True}
    return {"S": str(value)}


def _value(attribute: Mapping[str, Any]) -> Any:
    (kind, value), = attribute.items()
    if kind == "N":
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    if kind == "M":
        return {k: _value(v) for k, v in value.items()}
    if kind == "L":
        return [_value(v) for v in value]
    if kind == "NULL":
        return None
    return value


def to_item(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A plain document as a DynamoDB item (typed attribute values); None values left out."""
    return {k: _attribute(v) for k, v in document.items() if v is not None}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A DynamoDB item (typed attribute values) as a plain document."""
    return {k: _value(v) for k, v in item.items()}
