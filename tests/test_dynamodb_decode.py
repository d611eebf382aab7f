"""DynamoDB typed JSON to plain JSON: every type, numbers exact, bad descriptors refused."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.demo_app.lambda_events import to_attribute, to_image
from ingestion.dynamodb_decode import DynamoDecodeError, attribute_to_json, image_to_json


def test_every_type_decodes() -> None:
    image = {
        "s": {"S": 'héllo "quoted"'},
        "n": {"N": "12345678901234567890.123456789012345678"},
        "b": {"B": base64.b64encode(b"\x00\x01").decode()},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "z": {"NULL": True},
        "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "x"}, {"NULL": True}]}}},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.50"]},
        "bs": {"BS": ["AAE="]},
    }
    decoded = json.loads(image_to_json(image), parse_float=Decimal)
    assert decoded == {
        "s": 'héllo "quoted"',
        "n": Decimal("12345678901234567890.123456789012345678"),
        "b": "AAE=",
        "t": True,
        "f": False,
        "z": None,
        "m": {"inner": [1, "x", None]},
        "ss": ["a", "b"],
        "ns": [1, Decimal("2.50")],
        "bs": ["AAE="],
    }


def test_numbers_keep_every_digit() -> None:
    # 38 significant digits: more than a double holds.
    text = attribute_to_json({"N": "-0.00000000000000000000000000000000000001"})
    assert Decimal(text) == Decimal("-1E-38")
    assert attribute_to_json({"N": "99999999999999999999999999999999999999"}) == (
        "99999999999999999999999999999999999999"
    )


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ({"X": "1"}, "unknown DynamoDB type descriptor 'X'"),
        ({"N": "12abc"}, "invalid number"),
        ({"N": "NaN"}, "non-finite number"),
        ({"N": 12}, "N must hold a string"),
        ({"S": 5}, "S must hold a string"),
        ({"B": "***"}, "B holds invalid base64"),
        ({"BOOL": "yes"}, "BOOL must hold true or false"),
        ({"NULL": False}, "NULL must hold true"),
        ({"S": "a", "N": "1"}, "expected one type descriptor"),
        ({"L": {"S": "a"}}, "L must hold a list"),
        ({"M": {"deep": {"Q": 1}}}, "unknown DynamoDB type descriptor 'Q' at $.deep"),
    ],
)
def test_bad_attributes_are_refused_with_a_reason(attribute: dict, message: str) -> None:
    with pytest.raises(DynamoDecodeError) as caught:
        attribute_to_json(attribute)
    assert message in str(caught.value)


json_leaves = (
    st.none()
    | st.booleans()
    | st.text(max_size=20)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.decimals(
        allow_nan=False, allow_infinity=False, places=6, max_value=10**20, min_value=-(10**20)
    )
)
values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _expected(value: object) -> object:
    if isinstance(value, dict):
        return {key: _expected(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expected(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=6))
def test_any_item_round_trips_exactly(item: dict) -> None:
    decoded = json.loads(image_to_json(to_image(item)), parse_float=Decimal, parse_int=Decimal)
    assert decoded == _expected(item)


@given(st.sets(st.text(max_size=5), min_size=1, max_size=5))
def test_string_sets_become_arrays(members: set[str]) -> None:
    assert sorted(json.loads(attribute_to_json(to_attribute(members)))) == sorted(members)
