"""DynamoDB attribute values to JSON text, losslessly.

Numbers keep their exact decimal digits (DynamoDB allows 38 significant digits,
more than a float holds), binary stays base64 text, sets become arrays.
"""

from __future__ import annotations

import binascii
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class DynamoDecodeError(ValueError):
    """An attribute value that is not valid DynamoDB JSON."""


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DynamoDecodeError(f"S must hold a string, got {type(value).__name__} at {where}")
    return json.dumps(value, ensure_ascii=False)


def _number(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DynamoDecodeError(f"N must hold a string, got {type(value).__name__} at {where}")
    text = value.strip()
    if _JSON_NUMBER.fullmatch(text):
        return text
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise DynamoDecodeError(f"invalid number {value!r} at {where}") from None
    if not number.is_finite():
        raise DynamoDecodeError(f"non-finite number {value!r} at {where}")
    return str(number)  # Decimal's text of a finite number is valid JSON, digits intact


def _binary(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DynamoDecodeError(f"B must hold base64 text, got {type(value).__name__} at {where}")
    try:
        binascii.a2b_base64(value, strict_mode=True)
    except binascii.Error:
        raise DynamoDecodeError(f"B holds invalid base64 at {where}") from None
    return json.dumps(value)


def _list_of(value: Any, where: str, kind: str, encode: Any) -> str:
    if not isinstance(value, list):
        raise DynamoDecodeError(f"{kind} must hold a list, got {type(value).__name__} at {where}")
    return "[" + ",".join(encode(item, f"{where}[{i}]") for i, item in enumerate(value)) + "]"


def attribute_to_json(attribute: Any, where: str = "$") -> str:
    """One typed attribute value, such as {"N": "12.50"}, as JSON text."""
    if not isinstance(attribute, dict) or len(attribute) != 1:
        raise DynamoDecodeError(f"expected one type descriptor, got {attribute!r:.80} at {where}")
    ((kind, value),) = attribute.items()
    if kind == "S":
        return _string(value, where)
    if kind == "N":
        return _number(value, where)
    if kind == "B":
        return _binary(value, where)
    if kind == "BOOL":
        if not isinstance(value, bool):
            raise DynamoDecodeError(f"BOOL must hold true or false at {where}")
        return "true" if value else "false"
    if kind == "NULL":
        if value is not True:
            raise DynamoDecodeError(f"NULL must hold true at {where}")
        return "null"
    if kind == "M":
        return image_to_json(value, where)
    if kind == "L":
        return _list_of(value, where, "L", attribute_to_json)
    if kind == "SS":
        return _list_of(value, where, "SS", _string)
    if kind == "NS":
        return _list_of(value, where, "NS", _number)
    if kind == "BS":
        return _list_of(value, where, "BS", _binary)
    raise DynamoDecodeError(f"unknown DynamoDB type descriptor {kind!r} at {where}")


def image_to_json(image: Any, where: str = "$") -> str:
    """A whole item image (a map of attribute names to typed values) as a JSON object."""
    if not isinstance(image, dict):
        raise DynamoDecodeError(f"an image must be a map, got {type(image).__name__} at {where}")
    members = []
    for name, attribute in image.items():
        if not isinstance(name, str):
            raise DynamoDecodeError(f"attribute names must be strings at {where}")
        value = attribute_to_json(attribute, f"{where}.{name}")
        members.append(f"{json.dumps(name, ensure_ascii=False)}:{value}")
    return "{" + ",".join(members) + "}"
