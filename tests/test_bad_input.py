"""Reliability, bad input: no malformed stream record crashes a handler or gets lost.

For each handler, a corpus holds one malformed record (often several) for every
reason the handler's code can give. Landed in one batch among good records, the
corpus must end up whole in quarantine, each record once, with its reason and
its original bytes, while every good record lands in Bronze once. A coverage
guard reads the reasons out of the handler source (the decoding query's checks,
the envelope checks, the raise sites), so a reason added without a corpus entry
fails here. Hypothesis then mutates records and envelopes at random: the
handler must not raise, and every record received must be landed or
quarantined with a reason.
"""

from __future__ import annotations

import ast
import base64
import binascii
import copy
import gzip
import inspect
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from flows.demo_app.lambda_events import dynamodb_stream_arn, kinesis_stream_arn
from ingestion import dynamodb_decode, dynamodb_streams, kinesis, kinesis_decode
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import event_payload, kinesis_rec, order_change
from tests.reliability_faults import fault
from tests.test_kinesis_handler import bad_records

# bad_records() builds its oversize record for this limit; the DynamoDB corpus uses it too.
MAX_RECORD_BYTES = 4096
MALFORMED = "malformed Kinesis record: "
DELETE = object()  # for edited(): remove the value at the path instead of replacing it


@dataclass(frozen=True)
class BadInput:
    reason: str  # the reason quarantine must give, or its start where it names a size
    record: Any  # the stream record as Lambda hands it to the handler
    original: bytes  # what quarantine must keep of the record


@dataclass(frozen=True)
class Landing:
    response: dict
    bronze: pa.Table | None
    quarantine: pa.Table | None
    files: list[str]  # every file in the lake, relative to its root


def edited(record: Any, path: tuple, value: Any = DELETE) -> Any:
    """A copy of record with the value at path replaced (or deleted); path () is the record."""
    if not path:
        return value
    record = copy.deepcopy(record)
    *parents, last = path
    container = record
    for step in parents:
        container = container[step]
    if value is DELETE:
        del container[last]
    else:
        container[last] = value
    return record


def read_all(store: LakeStore, area: str, columns: list[str] | None = None) -> pa.Table | None:
    """Every Parquet file under an area, whatever source it landed under."""
    tables = []
    for path in store.list_files(area, suffix=".parquet"):
        with store.filesystem.open_input_file(store.full_path(path)) as handle:
            tables.append(pq.read_table(handle, columns=columns))
    return pa.concat_tables(tables) if tables else None


def land(handler: Callable, records: list, lake: str, columns: dict | None = None) -> Landing:
    settings = Settings(lake_root=lake, max_record_bytes=MAX_RECORD_BYTES)
    response = handler({"Records": records}, None, settings=settings)
    store = LakeStore.from_settings(settings)
    columns = columns or {}
    return Landing(
        response,
        read_all(store, "bronze", columns.get("bronze")),
        read_all(store, "quarantine", columns.get("quarantine")),
        store.list_files(""),
    )


LAKE_LAYOUT = re.compile(r"(bronze|quarantine)/[a-z0-9_]+/dt=\d{4}-\d{2}-\d{2}/[^/]+\.parquet")


def assert_landed_cleanly(landing: Landing) -> None:
    """Nothing reported for retry, and every file where the layout puts it."""
    assert landing.response == {"batchItemFailures": []}
    assert all(LAKE_LAYOUT.fullmatch(path) for path in landing.files), landing.files


def interleaved(good: list, bad: list) -> list:
    """Good records spread evenly among the bad ones, so no batch edge hides a mistake."""
    step = max(1, len(bad) // max(1, len(good)))
    records = list(bad)
    for i, record in enumerate(good):
        records.insert(min(len(records), i * (step + 1)), record)
    return records


# --- Kinesis corpus ---------------------------------------------------------------


def _payload_original(record: dict) -> bytes:
    """Quarantine keeps the decoded payload, or the data text where it is not base64."""
    data = record["kinesis"]["data"]
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        return data.encode()


def kinesis_payload_corpus() -> list[BadInput]:
    """Whole envelopes carrying bad payloads: every branch of the decoding query's checks."""

    def payload(n: int, **overrides: Any) -> bytes:
        return json.dumps(event_payload(n, **overrides)).encode()

    def without(n: int, name: str) -> bytes:
        return json.dumps({k: v for k, v in event_payload(n).items() if k != name}).encode()

    def with_data(n: int, data: str) -> dict:
        return edited(kinesis_rec(n), ("kinesis", "data"), data)

    oversize = payload(220, properties={"blob": "y" * MAX_RECORD_BYTES})
    # bad_records() is the handler test's corpus; these extend it to every branch.
    entries = [
        *bad_records().items(),
        ("invalid base64 in kinesis.data", with_data(200, "abc")),  # bad padding
        ("invalid base64 in kinesis.data", with_data(201, "YW Jj")),  # a space inside
        # An encoded surrogate, and a character cut off.
        ("invalid UTF-8 in payload", kinesis_rec(202, b'"\xed\xa0\x80"')),
        ("invalid UTF-8 in payload", kinesis_rec(203, b'{"e": "\xe2\x82"}')),
        (
            "payload is gzip-compressed, not JSON",
            kinesis_rec(226, gzip.compress(b'{"a": 1}', mtime=0)),
        ),
        ("invalid JSON in payload", kinesis_rec(204, b"")),
        ("invalid JSON in payload", kinesis_rec(205, b"{} {}")),
        ("invalid JSON in payload", kinesis_rec(206, b"\xef\xbb\xbf{}")),  # a byte-order mark
        ("payload is JSON ubigint, not an object", kinesis_rec(207, b"17")),
        ("payload is JSON double, not an object", kinesis_rec(208, b"-1.5")),
        ("payload is JSON boolean, not an object", kinesis_rec(209, b"true")),
        ("payload is JSON null, not an object", kinesis_rec(210, b" null")),
        ("missing required field event_id", kinesis_rec(211, without(211, "event_id"))),
        ("missing required field event_time", kinesis_rec(212, without(212, "event_time"))),
        ("missing required field event_time", kinesis_rec(213, payload(213, event_time=None))),
        ("missing required field user_id", kinesis_rec(214, payload(214, user_id=""))),
        (
            "field event_type must be a string, got double",
            kinesis_rec(215, payload(215, event_type=1.5)),
        ),
        (
            "field user_id must be a string, got array",
            kinesis_rec(216, payload(216, user_id=["u"])),
        ),
        (
            "field session_id must be a string, got object",
            kinesis_rec(217, payload(217, session_id={})),
        ),
        ("field device must be an object, got ubigint", kinesis_rec(218, payload(218, device=3))),
        (
            "field properties must be an object, got varchar",
            kinesis_rec(219, payload(219, properties="x")),
        ),
        (
            f"oversize record: {len(oversize)} bytes, limit {MAX_RECORD_BYTES}",
            kinesis_rec(220, oversize),
        ),
        ('unparseable event_time ""', kinesis_rec(221, payload(221, event_time=""))),
        # DuckDB parses these, but none is the time of an event.
        (
            'unparseable event_time "infinity"',
            kinesis_rec(222, payload(222, event_time="infinity")),
        ),
        (
            'unparseable event_time "-infinity"',
            kinesis_rec(223, payload(223, event_time="-infinity")),
        ),
        (
            'unparseable event_time "99999-01-01"',
            kinesis_rec(224, payload(224, event_time="99999-01-01")),
        ),
        (
            'unparseable event_time "0044-03-15 (BC)"',
            kinesis_rec(225, payload(225, event_time="0044-03-15 (BC)")),
        ),
    ]
    return [BadInput(reason, record, _payload_original(record)) for reason, record in entries]


def kinesis_envelope_corpus() -> list[BadInput]:
    """Records whose Lambda envelope is unusable: every check in kinesis._envelope_problem."""

    def broken(n: int, path: tuple, value: Any = DELETE) -> dict:
        return edited(kinesis_rec(n), path, value)

    data, sequence = ("kinesis", "data"), ("kinesis", "sequenceNumber")
    arrival = ("kinesis", "approximateArrivalTimestamp")
    entries = [
        ("record is str, not an object", "surprise"),
        ("record is list, not an object", [kinesis_rec(300)]),
        ("record is NoneType, not an object", None),
        ("record is int, not an object", 7),
        ("record has no kinesis object", broken(301, ("kinesis",))),
        ("record has no kinesis object", broken(302, ("kinesis",), "data")),
        ("kinesis.data missing or not a string", broken(303, data)),
        ("kinesis.data missing or not a string", broken(304, data, 123)),
        ("kinesis.sequenceNumber missing or not a string", broken(305, sequence)),
        ("kinesis.sequenceNumber missing or not a string", broken(306, sequence, 306)),
        ("kinesis.sequenceNumber is not a decimal number", broken(307, sequence, "12ab")),
        ("kinesis.sequenceNumber is not a decimal number", broken(308, sequence, "")),
        ("kinesis.sequenceNumber is not a decimal number", broken(309, sequence, "-5")),
        # str.isdigit() is true for superscripts; lpad ordering in dbt is not.
        ("kinesis.sequenceNumber is not a decimal number", broken(310, sequence, "²³")),
        # Text that must not reach a file name: a NUL fails the write, ".." leaves the lake.
        ("kinesis.sequenceNumber is not a decimal number", broken(323, sequence, "1\x002")),
        ("kinesis.sequenceNumber is not a decimal number", broken(324, sequence, "/../../x")),
        ("kinesis.partitionKey is not a string", broken(311, ("kinesis", "partitionKey"), 42)),
        ("kinesis.approximateArrivalTimestamp is not a number", broken(312, arrival, "noon")),
        ("kinesis.approximateArrivalTimestamp is not a number", broken(313, arrival, True)),
        # Arrival lands as int64 microseconds: these do not fit.
        ("kinesis.approximateArrivalTimestamp is out of range", broken(314, arrival, 1e300)),
        ("kinesis.approximateArrivalTimestamp is out of range", broken(315, arrival, 2**60)),
        ("kinesis.approximateArrivalTimestamp is out of range", broken(316, arrival, float("nan"))),
        ("kinesis.approximateArrivalTimestamp is out of range", broken(317, arrival, float("inf"))),
        ("eventSourceARN names no Kinesis stream", broken(318, ("eventSourceARN",))),
        ("eventSourceARN names no Kinesis stream", broken(319, ("eventSourceARN",), 5)),
        (
            "eventSourceARN names no Kinesis stream",
            broken(320, ("eventSourceARN",), dynamodb_stream_arn("orders")),
        ),
        ("eventID missing", broken(321, ("eventID",))),
        ("eventID missing", broken(322, ("eventID",), 12)),
    ]
    return [
        BadInput(MALFORMED + reason, record, json.dumps(record, default=str).encode())
        for reason, record in entries
    ]


def kinesis_corpus() -> list[BadInput]:
    return kinesis_payload_corpus() + kinesis_envelope_corpus()


KINESIS_GOOD = [kinesis_rec(n) for n in range(12)]


# --- DynamoDB Streams corpus ----------------------------------------------------------


def dynamodb_corpus() -> list[BadInput]:
    """One record per reason dynamodb_streams and dynamodb_decode can raise."""

    def broken(n: int, path: tuple, value: Any = DELETE, event_name: str = "INSERT") -> dict:
        return edited(order_change(n, event_name), path, value)

    def attribute(n: int, value: Any, name: str = "x") -> dict:
        return broken(n, ("dynamodb", "NewImage", name), value)

    created = ("dynamodb", "ApproximateCreationDateTime")
    sequence = ("dynamodb", "SequenceNumber")
    oversize = order_change(100, blob="z" * MAX_RECORD_BYTES)
    oversize_bytes = len(json.dumps(oversize, separators=(",", ":")))
    entries = [
        (f"oversize record: {oversize_bytes} bytes, limit {MAX_RECORD_BYTES}", oversize),
        ("unknown eventName 'UPSERT'", broken(101, ("eventName",), "UPSERT")),
        ("unknown eventName None", broken(102, ("eventName",))),
        ("unknown eventName 5", broken(103, ("eventName",), 5)),
        ("record has no dynamodb object", broken(104, ("dynamodb",))),
        ("record has no dynamodb object", broken(105, ("dynamodb",), [])),
        ("dynamodb.SequenceNumber missing or not a decimal number", broken(106, sequence)),
        ("dynamodb.SequenceNumber missing or not a decimal number", broken(107, sequence, 107)),
        ("dynamodb.SequenceNumber missing or not a decimal number", broken(108, sequence, "1x")),
        ("dynamodb.SequenceNumber missing or not a decimal number", broken(109, sequence, "")),
        ("dynamodb.SequenceNumber missing or not a decimal number", broken(110, sequence, "²")),
        ("INSERT without keys", broken(111, ("dynamodb", "Keys"))),
        ("MODIFY without keys", broken(112, ("dynamodb", "Keys"), {}, "MODIFY")),
        ("REMOVE without keys", broken(113, ("dynamodb", "Keys"), "o-1", "REMOVE")),
        # Each kind of bad attribute value dynamodb_decode refuses, in images and in keys.
        ("S must hold a string, got int at NewImage.status", attribute(114, {"S": 5}, "status")),
        ("N must hold a string, got int at NewImage.amount", attribute(115, {"N": 12}, "amount")),
        ("invalid number 'ten' at NewImage.amount", attribute(116, {"N": "ten"}, "amount")),
        ("non-finite number 'Infinity' at NewImage.x", attribute(117, {"N": "Infinity"})),
        ("non-finite number 'NaN' at NewImage.x", attribute(118, {"N": "NaN"})),
        ("B must hold base64 text, got int at NewImage.x", attribute(119, {"B": 5})),
        ("B holds invalid base64 at NewImage.x", attribute(120, {"B": "***"})),
        ("BOOL must hold true or false at NewImage.x", attribute(121, {"BOOL": "yes"})),
        ("NULL must hold true at NewImage.x", attribute(122, {"NULL": False})),
        ("L must hold a list, got dict at NewImage.x", attribute(123, {"L": {"S": "a"}})),
        ("SS must hold a list, got str at NewImage.x", attribute(124, {"SS": "a"})),
        ("invalid number 'x' at NewImage.x[1]", attribute(125, {"NS": ["1", "x"]})),
        ("B must hold base64 text, got int at NewImage.x[1]", attribute(126, {"BS": ["AAE=", 3]})),
        ("unknown DynamoDB type descriptor 'X' at NewImage.x", attribute(127, {"X": "1"})),
        (
            "expected one type descriptor, got {'S': 'a', 'N': '1'} at NewImage.x",
            attribute(128, {"S": "a", "N": "1"}),
        ),
        ("expected one type descriptor, got {} at NewImage.x", attribute(129, {})),
        ("expected one type descriptor, got 'plain' at NewImage.x", attribute(130, "plain")),
        ("an image must be a map, got list at NewImage.x", attribute(131, {"M": [1]})),
        (
            "unknown DynamoDB type descriptor 'Q' at NewImage.x.deep[0]",
            attribute(132, {"M": {"deep": {"L": [{"Q": 1}]}}}),
        ),
        ("an image must be a map, got list at NewImage", broken(133, ("dynamodb", "NewImage"), [])),
        (
            "an image must be a map, got str at OldImage",
            broken(134, ("dynamodb", "OldImage"), "gone", "MODIFY"),
        ),
        (
            "invalid number 'x1' at Keys.order_id",
            broken(135, ("dynamodb", "Keys", "order_id"), {"N": "x1"}),
        ),
        # JSON cannot say this, but the handler takes Python objects: the check must hold too.
        (
            "attribute names must be strings at NewImage",
            broken(136, ("dynamodb", "NewImage"), {1: {"S": "a"}}),
        ),
        ("unparseable ApproximateCreationDateTime 'yesterday'", broken(137, created, "yesterday")),
        ("unparseable ApproximateCreationDateTime True", broken(138, created, True)),
        ("unparseable ApproximateCreationDateTime nan", broken(139, created, float("nan"))),
        ("unparseable ApproximateCreationDateTime 1e+20", broken(140, created, 1e20)),
        ("eventSourceARN names no DynamoDB table stream", broken(141, ("eventSourceARN",))),
        (
            "eventSourceARN names no DynamoDB table stream",
            broken(142, ("eventSourceARN",), kinesis_stream_arn("orders")),
        ),
        ("eventSourceARN names no DynamoDB table stream", broken(143, ("eventSourceARN",), 5)),
        ("eventSourceARN names no DynamoDB table stream", broken(144, ("eventSourceARN",), {})),
        ("record is str, not an object", "surprise"),
        ("record is list, not an object", [order_change(145)]),
        ("record is NoneType, not an object", None),
        ("record is float, not an object", 3.5),
    ]
    return [
        BadInput(reason, record, json.dumps(record, separators=(",", ":"), default=str).encode())
        for reason, record in entries
    ]


DYNAMODB_GOOD = [order_change(n) for n in range(6)] + [
    order_change(6, "MODIFY", status="paid"),
    order_change(7, "REMOVE"),
    # Optional metadata of the wrong type is left out; the change itself is good.
    edited(order_change(8), ("dynamodb", "StreamViewType"), 5),
    edited(order_change(9), ("dynamodb", "SizeBytes"), 2**70),
    edited(order_change(10), ("userIdentity",), {"principalId": ["dynamodb"]}),
]


# --- Landing each corpus among good records ------------------------------------------


@pytest.fixture(scope="module")
def kinesis_landing(tmp_path_factory) -> Landing:
    records = interleaved(KINESIS_GOOD, [entry.record for entry in kinesis_corpus()])
    return land(kinesis.handler, records, str(tmp_path_factory.mktemp("kinesis") / "lake"))


@pytest.fixture(scope="module")
def dynamodb_landing(tmp_path_factory) -> Landing:
    records = interleaved(DYNAMODB_GOOD, [entry.record for entry in dynamodb_corpus()])
    lake = str(tmp_path_factory.mktemp("dynamodb") / "lake")
    return land(dynamodb_streams.handler, records, lake)


def assert_quarantined_once_with_reason(corpus: list[BadInput], quarantine: pa.Table) -> None:
    expected = Counter(entry.original for entry in corpus)
    assert max(expected.values()) == 1, "corpus entries must differ, or they cannot be told apart"
    rows = quarantine.select(["reason", "original_bytes"]).to_pylist()
    # Each corpus record once, nothing else: keyed by the bytes quarantine kept of it.
    assert Counter(row["original_bytes"] for row in rows) == expected
    reasons = {row["original_bytes"]: row["reason"] for row in rows}
    wrong = [
        (entry.reason, reasons[entry.original])
        for entry in corpus
        if not reasons[entry.original].startswith(entry.reason)
    ]
    assert not wrong, wrong


@fault(
    "a corpus of malformed Kinesis records, one for every reason the handler gives, "
    "among good ones in one batch",
    "no batch failure; every good record in Bronze once, every bad one in quarantine once "
    "with its reason and original bytes",
)
def test_kinesis_corpus_is_quarantined_whole_and_every_good_record_lands(kinesis_landing) -> None:
    assert_landed_cleanly(kinesis_landing)
    assert Counter(kinesis_landing.bronze.column("event_id").to_pylist()) == Counter(
        f"evt-{n:06d}" for n in range(len(KINESIS_GOOD))
    )
    assert_quarantined_once_with_reason(kinesis_corpus(), kinesis_landing.quarantine)


@fault(
    "a corpus of malformed DynamoDB stream records, one for every reason the handler gives, "
    "among good ones in one batch",
    "no batch failure; every good record in Bronze once, every bad one in quarantine once "
    "with its reason and original bytes",
)
def test_dynamodb_corpus_is_quarantined_whole_and_every_good_record_lands(
    dynamodb_landing,
) -> None:
    assert_landed_cleanly(dynamodb_landing)
    assert Counter(dynamodb_landing.bronze.column("sequence_number").to_pylist()) == Counter(
        record["dynamodb"]["SequenceNumber"] for record in DYNAMODB_GOOD
    )
    assert_quarantined_once_with_reason(dynamodb_corpus(), dynamodb_landing.quarantine)


def test_wrongly_typed_optional_dynamodb_metadata_lands_empty(dynamodb_landing) -> None:
    rows = {
        row["sequence_number"]: row
        for row in dynamodb_landing.bronze.select(
            ["sequence_number", "stream_view_type", "size_bytes", "user_identity"]
        ).to_pylist()
    }
    odd_view, odd_size, odd_identity = (
        rows[record["dynamodb"]["SequenceNumber"]] for record in DYNAMODB_GOOD[-3:]
    )
    assert odd_view["stream_view_type"] is None
    assert odd_size["size_bytes"] is None
    assert odd_identity["user_identity"] is None


# --- The coverage guard: every reason the source can give has a corpus entry ----------

# Reasons the code can name but no input reaches; each with why, so the list stays short.
UNREACHABLE = {
    re.escape("payload could not be read"): (
        "the decoding query's last resort: a payload that fails the well-formed test "
        "always fails one of the checks before it"
    ),
}


def _pattern(node: ast.expr) -> str | None:
    """A reason written as a literal or an f-string, as a regular expression; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(
            re.escape(part.value) if isinstance(part, ast.Constant) else ".*"
            for part in node.values
        )
    return None


def _sql_literal(part: str) -> str | None:
    return part[1:-1].replace("''", "'") if re.fullmatch(r"'(?:[^']|'')*'", part) else None


def kinesis_payload_reasons() -> set[str]:
    """The reasons in the decoding query as it runs: its loops are expanded there."""
    sql = kinesis_decode._query(MAX_RECORD_BYTES)
    (cases,) = re.findall(r"reasoned as \((.*?)\n\)", sql, re.DOTALL)
    patterns = set()
    for line in cases.splitlines():
        branch = re.fullmatch(r"\s*(?:when .* then|else) (.*)", line)
        if branch is None:
            continue
        parts = [_sql_literal(part) for part in re.split(r"\s*\|\|\s*", branch[1].strip())]
        assert any(part is not None for part in parts), f"a reason the guard cannot read: {line}"
        # Literal text stays; a value the query fills in (a size, a type, the text) is ".*".
        patterns.add("".join(".*" if part is None else re.escape(part) for part in parts))
    return patterns


def kinesis_envelope_reasons() -> set[str]:
    tree = ast.parse(inspect.getsource(kinesis._envelope_problem))
    patterns = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and node.value is not None:
            if isinstance(node.value, ast.Constant) and node.value.value is None:
                continue
            pattern = _pattern(node.value)
            assert pattern is not None, f"a reason the guard cannot read: {ast.unparse(node)}"
            patterns.add(re.escape(MALFORMED) + pattern)
    return patterns


def dynamodb_reasons() -> set[str]:
    patterns = set()
    for module in (dynamodb_streams, dynamodb_decode):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if not (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and isinstance(node.exc.func, ast.Name)
                and node.exc.func.id in ("BadRecord", "DynamoDecodeError")
            ):
                continue
            (message,) = node.exc.args
            pattern = _pattern(message)
            if pattern is None:
                # Only the hand-over of a DynamoDecodeError, whose texts have their own sites.
                assert ast.unparse(message) == "str(error)", ast.unparse(node)
                continue
            patterns.add(pattern)
    return patterns


def uncovered(patterns: set[str], reasons: list[str]) -> list[str]:
    """The patterns no reason matches, leaving out those known to be unreachable."""
    return sorted(
        pattern
        for pattern in patterns - UNREACHABLE.keys()
        if not any(re.fullmatch(pattern, reason, re.DOTALL) for reason in reasons)
    )


def assert_reasons_covered(patterns: set[str], landing: Landing) -> None:
    reasons = landing.quarantine.column("reason").to_pylist()
    # A reason the source reading did not find means the reading is out of date.
    unknown = [r for r in reasons if not any(re.fullmatch(p, r, re.DOTALL) for p in patterns)]
    assert not unknown, unknown
    missing = uncovered(patterns, reasons)
    assert not missing, f"reasons the handler can give that no corpus entry produces: {missing}"


def test_kinesis_corpus_covers_every_reason_in_the_handler_source(kinesis_landing) -> None:
    patterns = kinesis_payload_reasons() | kinesis_envelope_reasons()
    assert UNREACHABLE.keys() <= patterns, "an UNREACHABLE reason is gone from the code"
    assert_reasons_covered(patterns, kinesis_landing)


def test_dynamodb_corpus_covers_every_reason_in_the_handler_source(dynamodb_landing) -> None:
    assert_reasons_covered(dynamodb_reasons(), dynamodb_landing)


def test_the_guard_reports_a_reason_without_a_corpus_entry(kinesis_landing) -> None:
    reasons = kinesis_landing.quarantine.column("reason").to_pylist()
    patterns = kinesis_payload_reasons() | kinesis_envelope_reasons()
    without_device = [r for r in reasons if not r.startswith("field device")]
    assert uncovered(patterns, without_device) == [
        re.escape("field device must be an object, got ") + ".*"
    ]


# --- Fuzzing: random damage to records and envelopes ---------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: values past int64 must not break a write
    | st.floats()  # NaN and the infinities included, as Python's json reads them
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def paths_in(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_in(item, (*prefix, index))
    return found


def damaged(data: st.DataObject, record: Any, paths: Callable[[Any], list[tuple]]) -> Any:
    """One to three random edits: a subtree replaced by any JSON value, or a key deleted."""
    for _ in range(data.draw(st.integers(1, 3))):
        choices = paths(record)
        if not choices:
            break
        path = data.draw(st.sampled_from(choices))
        if path and data.draw(st.booleans()):
            record = edited(record, path)
        else:
            record = edited(record, path, data.draw(json_values))
    return record


def counted(landing: Landing) -> tuple[int, int]:
    landed = landing.bronze.num_rows if landing.bronze is not None else 0
    quarantined = landing.quarantine.num_rows if landing.quarantine is not None else 0
    return landed, quarantined


def assert_quarantine_rows_have_reasons(landing: Landing) -> None:
    if landing.quarantine is not None:
        assert all(landing.quarantine.column("reason").to_pylist())
        assert landing.quarantine.column("original_bytes").null_count == 0


FUZZ = hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@fault(
    "DynamoDB stream records damaged anywhere: any field replaced by any JSON value or "
    "removed (hypothesis)",
    "never a crash; received = landed + quarantined, every intact record lands",
)
@FUZZ
@given(data=st.data(), damaged_count=st.integers(1, 6))
def test_damaged_dynamodb_records_never_crash_and_none_is_lost(
    tmp_path_factory, data, damaged_count
) -> None:
    good = [order_change(n) for n in range(3)]
    kinds = ("INSERT", "MODIFY", "REMOVE")
    damaged_records = [
        damaged(data, order_change(100 + i, kinds[i % 3]), paths_in) for i in range(damaged_count)
    ]
    landing = land(
        dynamodb_streams.handler,
        interleaved(good, damaged_records),
        str(tmp_path_factory.mktemp("fuzz-dynamodb") / "lake"),
        columns={"bronze": ["sequence_number"], "quarantine": ["reason", "original_bytes"]},
    )

    assert_landed_cleanly(landing)
    assert sum(counted(landing)) == len(good) + len(damaged_records)
    landed = Counter(landing.bronze.column("sequence_number").to_pylist())
    assert all(landed[record["dynamodb"]["SequenceNumber"]] == 1 for record in good)
    assert_quarantine_rows_have_reasons(landing)


ENVELOPE_FIELDS = [
    (),
    ("kinesis",),
    ("kinesis", "data"),
    ("kinesis", "sequenceNumber"),
    ("kinesis", "partitionKey"),
    ("kinesis", "approximateArrivalTimestamp"),
    ("eventSourceARN",),
    ("eventID",),
]


def envelope_fields_in(record: Any) -> list[tuple]:
    present = set(paths_in(record))
    return [path for path in ENVELOPE_FIELDS if path in present]


@fault(
    "Kinesis envelopes damaged anywhere (data, sequence number, partition key, arrival "
    "time, source ARN, the whole record) (hypothesis)",
    "never a crash; received = landed + quarantined, every intact record lands",
)
@FUZZ
@given(data=st.data(), damaged_count=st.integers(1, 6))
def test_damaged_kinesis_envelopes_never_crash_and_none_is_lost(
    tmp_path_factory, data, damaged_count
) -> None:
    good = [kinesis_rec(n) for n in range(3)]
    damaged_records = [
        damaged(data, kinesis_rec(10 + i), envelope_fields_in) for i in range(damaged_count)
    ]
    landing = land(
        kinesis.handler,
        interleaved(good, damaged_records),
        str(tmp_path_factory.mktemp("fuzz-kinesis") / "lake"),
        columns={"bronze": ["event_id"], "quarantine": ["reason", "original_bytes"]},
    )

    assert_landed_cleanly(landing)
    assert sum(counted(landing)) == len(good) + len(damaged_records)
    landed = Counter(landing.bronze.column("event_id").to_pylist())
    assert all(landed[f"evt-{n:06d}"] == 1 for n in range(len(good)))
    assert_quarantine_rows_have_reasons(landing)
