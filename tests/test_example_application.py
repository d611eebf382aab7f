"""An application that is not the shop, brought by configuration alone (examples/studio).

What a user does, as docs/bring-your-own-application.md says: in a copy of the
project, delete the demo shop's own folders, put the studio's application file
in place of streamlake.yml, add the studio's Gold model (its SQL and YAML) and
run `streamlake sources apply --prune`. No Python is edited.

The studio is unlike the shop on purpose: one DynamoDB table holds three
entities under composite PK/SK keys (members by `SK = PROFILE`, bookings by an
attribute's value, sessions by a key prefix), sessions expire by time to live,
and the app's Kinesis stream is camelCase with epoch-millisecond times. Its
changes go through the real handlers as Lambda delivers them, with a
redelivered batch, versions out of order, application deletes, TTL removes and
a late change of a class weeks old. The project builds on the local target and
through `streamlake emulate-athena`, and Silver and Gold are the same on both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flows.demo_app.delivery import Delivery
from flows.demo_app.feed import feed
from flows.demo_app.lambda_events import dynamodb_record, kinesis_record
from flows.warehouse.lakehouse import PROJECT_DIR, run_dbt
from ingestion.application import event_contracts, load_application
from ingestion.settings import Settings
from tests.projects import project_copy
from tests.test_athena_execution import _aws_tables, _local_tables
from tests.test_cli import streamlake
from tests.test_lakehouse import BOOKKEEPING

pytestmark = pytest.mark.slow

STUDIO = PROJECT_DIR / "examples" / "studio"
TABLE = "StudioTable"
STREAM = "StudioAppActivity"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def studio_project(root: Path) -> Path:
    """The project as a user makes it theirs: no Python touched."""
    gold = STUDIO / "models" / "gold"
    return project_copy(
        root,
        (STUDIO / "streamlake.yml").read_text(),
        without_shop=True,
        add={f"dbt_project/models/gold/{p.name}": p for p in gold.iterdir()},
    )


# ---------------------------------------------------------------- the studio's changes


@dataclass
class Studio:
    """Builds the studio's stream records, numbering them in stream order."""

    sequence: int = 10**21
    kinesis_sequence: int = 49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def change(
        self, item: dict[str, Any] | None, *, remove: tuple[str, str] | None = None,
        at: datetime = NOW, ttl: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """INSERT or MODIFY an item, or REMOVE the item under `remove` (by TTL when ttl)."""
        self.sequence += 100
        key = remove or (item["PK"], item["SK"])  # type: ignore[index]
        old = self.items.get(key)
        if remove is not None:
            event, new = "REMOVE", None
            self.items.pop(key)
        else:
            event, new = ("MODIFY" if old else "INSERT"), item
            self.items[key] = dict(item)  # type: ignore[arg-type]
        return dynamodb_record(
            table=TABLE,
            event_name=event,
            keys={"PK": key[0], "SK": key[1]},
            new_item=new,
            old_item=old,
            sequence_number=str(self.sequence),
            created=at,
            ttl_expiry=ttl,
        )

    def event(
        self, user: str, kind: str, at: datetime, shard: str = "shardId-000000000000"
    ) -> dict:
        self.kinesis_sequence += 10
        payload = {"eventType": kind, "userId": user, "sessionId": f"app-{user}",
                   "timestamp": int(at.timestamp() * 1000), "screen": "schedule"}  # fmt: skip
        return kinesis_record(
            json.dumps(payload).encode(),
            stream=STREAM,
            shard_id=shard,
            sequence_number=str(self.kinesis_sequence),
            partition_key=user,
            arrival=NOW,
        )


def member(n: int, plan: str = "monthly") -> dict[str, Any]:
    joined = (NOW - timedelta(days=60 + n)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"PK": f"MEMBER#m{n}", "SK": "PROFILE", "entityType": "member", "name": f"Member {n}",
            "email": f"m{n}@studio.example", "plan": plan, "joinedAt": joined}  # fmt: skip


def booking(n: int, cls: str, days_ago: int, status: str = "booked") -> dict[str, Any]:
    starts = (NOW - timedelta(days=days_ago)).replace(hour=18, minute=0, second=0)
    return {"PK": f"MEMBER#m{n}", "SK": f"BOOKING#{cls}", "entityType": "booking",
            "className": "Vinyasa", "startsAt": starts.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "status": status, "price": Decimal("18.50")}  # fmt: skip


def session(n: int, sid: str, days_ago: int) -> dict[str, Any]:
    started = NOW - timedelta(days=days_ago, hours=3)
    return {"PK": f"MEMBER#m{n}", "SK": f"SESSION#{sid}", "entityType": "session",
            "device": "ios", "startedAt": started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "expiresAt": int((started + timedelta(days=1)).timestamp())}  # fmt: skip


def batch(records: list[dict[str, Any]], note: str = "") -> Delivery:
    kind = "kinesis" if records[0]["eventSource"] == "aws:kinesis" else "dynamodb_streams"
    return Delivery(kind, STREAM if kind == "kinesis" else TABLE, {"Records": records}, note)


def landings() -> tuple[list[Delivery], list[Delivery]]:
    """What lands before the first build, and before the second."""
    studio = Studio()
    first_changes = [studio.change(member(n)) for n in range(1, 6)]
    first_changes += [studio.change(booking(1, f"c{c}", days_ago=c)) for c in range(1, 5)]
    first_changes += [
        studio.change(booking(2, "c5", days_ago=2)),
        studio.change(booking(3, "old", 20)),
    ]
    first_changes += [studio.change(session(n, f"s{n}", days_ago=n)) for n in range(1, 4)]
    activity = [studio.event(f"m{n % 5 + 1}", "class_viewed", NOW - timedelta(days=n % 4, minutes=n))
                for n in range(30)]  # fmt: skip
    first = [
        batch(first_changes[:7]),
        batch(first_changes[7:]),
        batch(activity[:15]),
        batch(activity[15:]),
    ]

    plan_change = studio.change(member(3, plan="annual"))
    attended_v1 = studio.change(booking(1, "c1", days_ago=1, status="attended"))
    attended_v2 = studio.change(
        {**booking(1, "c1", days_ago=1, status="attended"), "price": Decimal("20.00")}
    )
    second_changes = [
        plan_change,
        studio.change(None, remove=("MEMBER#m2", "BOOKING#c5")),  # the member deleted it
        studio.change(None, remove=("MEMBER#m1", "SESSION#s1"), ttl=True),  # time to live
        studio.change(None, remove=("MEMBER#m2", "SESSION#s2")),  # a logout
        # A late change of a class three weeks old.
        studio.change(booking(3, "old", days_ago=20, status="cancelled")),
    ]
    late_events = [studio.event("m1", "class_booked", NOW - timedelta(days=9)) for _ in range(2)]
    second = [
        batch([attended_v2]),
        batch([attended_v1], note="out of order"),  # older version after the newer one
        batch(second_changes),
        batch(second_changes, note="redelivery"),
        first[0],  # a first-day batch again, as Lambda may redeliver
        batch(late_events),
        batch(late_events, note="redelivery"),
    ]
    return first, second


# ---------------------------------------------------------------- the builds


@dataclass
class Built:
    project: Path
    lake: Path
    local: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    aws: dict[str, tuple[list[str], list[tuple[Any, ...]]]]


MODELS = {
    "silver": ["members", "bookings", "sessions", "app_activity"],
    "gold": ["studio_daily", "pipeline_health"],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("studio")
    project = studio_project(root)
    lake = root / "lake"
    app = {"STREAMLAKE_APP_CONFIG": str(project / "streamlake.yml")}
    application = load_application(project / "streamlake.yml")
    settings = Settings(
        lake_root=str(lake),
        source_aliases=application.source_aliases,
        event_contracts=event_contracts(application, project / "streamlake.yml"),
    )
    first, second = landings()
    for number, landing in enumerate((first, second)):
        report = feed(
            landing, settings, clock=lambda n=number: NOW - timedelta(minutes=30 - 20 * n)
        )
        assert not report.unlanded_batches
        run_dbt(settings, ["build", "--quiet"], project_dir=project)
        command = "build" if number == 0 else "transform"
        cli = streamlake(
            "emulate-athena", command, "--lake-root", str(lake), "--project-dir", str(project),
            env=app, timeout=900,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stdout[-4000:] + cli.stderr
    return Built(project, lake, _local_tables(settings, MODELS), _aws_tables(lake))


def rows_of(built: Built, table: str, *columns: str) -> list[tuple[Any, ...]]:
    names, rows = built.local[table]
    indexes = [[n for n in names if n not in BOOKKEEPING].index(c) for c in columns]
    return sorted(tuple(row[i] for i in indexes) for row in rows)


def test_the_generated_files_are_in_step_with_the_application_file(built: Built) -> None:
    checked = streamlake(
        "sources", "check", "--project-dir", str(built.project),
        "--app", str(built.project / "streamlake.yml"),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    generated = built.project / "dbt_project" / "models"
    assert (generated / "bronze" / "stg_bookings.sql").exists()
    assert not (generated / "silver" / "orders.sql").exists(), "the shop's files were pruned"


def test_each_entity_gets_its_own_silver_table_and_key(built: Built) -> None:
    assert rows_of(built, "silver.members", "member_id", "plan") == [
        ("m1", "monthly"), ("m2", "monthly"), ("m3", "annual"), ("m4", "monthly"), ("m5", "monthly"),
    ]  # fmt: skip
    bookings = rows_of(
        built, "silver.bookings", "member_id", "class_id", "status", "price", "is_deleted"
    )
    # The newer version wins though the older one landed after it.
    assert ("m1", "c1", "attended", Decimal("20.00"), False) in bookings
    # The application's delete.
    assert ("m2", "c5", "booked", Decimal("18.50"), True) in bookings
    # The late change of a class three weeks old.
    assert ("m3", "old", "cancelled", Decimal("18.50"), False) in bookings
    assert len(bookings) == 6


def test_a_ttl_expiry_is_told_apart_from_a_delete(built: Built) -> None:
    sessions = rows_of(built, "silver.sessions", "session_id", "is_deleted", "is_expired")
    assert sessions == [("s1", True, True), ("s2", True, False), ("s3", False, False)]


def test_the_camel_case_stream_lands_once_per_event(built: Built) -> None:
    events = rows_of(built, "silver.app_activity", "event_id", "event_type")
    assert len(events) == 32, "30 events and 2 late ones, redeliveries counted once"
    assert sum(1 for _, kind in events if kind == "class_booked") == 2


def test_the_gold_model_counts_expired_sessions_and_drops_deleted_bookings(built: Built) -> None:
    daily = {row[0]: row for row in rows_of(
        built, "gold.studio_daily", "activity_date", "classes_booked", "classes_attended",
        "sessions_started", "sessions_expired",
    )}  # fmt: skip
    assert sum(row[1] for row in daily.values()) == 4, "c1..c4 of m1; c5 deleted, old cancelled"
    assert sum(row[2] for row in daily.values()) == 1
    assert sum(row[3] for row in daily.values()) == 2, "s1 (expired) and s3; s2 logged out"
    assert sum(row[4] for row in daily.values()) == 1
    old_day = (NOW - timedelta(days=20)).date()
    assert daily[old_day][1] == 0, "the late cancellation reached its three-week-old day"


def test_pipeline_health_lists_the_studios_sources(built: Built) -> None:
    health = rows_of(built, "gold.pipeline_health", "bronze_source", "silver_rows", "gold_rows")
    assert [row[0] for row in health] == ["app_activity", "studio"]
    assert all(silver > 0 and gold > 0 for _, silver, gold in health)


@pytest.mark.parametrize(
    "table", [f"{layer}.{n}" for layer, names in MODELS.items() for n in names]
)
def test_silver_and_gold_are_the_same_on_aws(built: Built, table: str) -> None:
    local_columns, local_rows = built.local[table]
    assert local_rows, f"{table} is empty: the comparison would prove nothing"
    aws_columns, aws_rows = built.aws[table]
    assert sorted(aws_columns) == sorted(local_columns)
    if table == "gold.pipeline_health":
        # Its freshness stamps are each build's own; the counts must agree.
        counts = [
            local_columns.index(c)
            for c in ("bronze_source", "rows_landed", "silver_rows", "gold_rows")
        ]
        local_rows = [tuple(r[i] for i in counts) for r in local_rows]
        aws_rows = [tuple(r[i] for i in counts) for r in aws_rows]
    assert aws_rows == local_rows, f"{table}: only local {set(local_rows) - set(aws_rows)}"


def test_the_cdk_app_synthesizes_the_studios_sources(tmp_path: Path) -> None:
    """Its event source mappings, IAM scoped to its table and stream, its Glue tables."""
    context = json.loads((PROJECT_DIR / "infra" / "cdk.json").read_text())["context"]
    context.update({"app_config": str(STUDIO / "streamlake.yml"), "env_name": "studio",
                    "aws:cdk:bundling-stacks": []})  # fmt: skip
    script = (
        "import json, sys, aws_cdk as cdk\n"
        "from infra.stack import add_streamlake\n"
        f"app = cdk.App(outdir={str(tmp_path)!r}, context=json.loads(sys.argv[1]))\n"
        "stack = add_streamlake(app)\n"
        "print(json.dumps(app.synth().get_stack_by_name(stack.stack_name).template))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, json.dumps(context)],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    template = json.loads(completed.stdout.strip().splitlines()[-1])
    resources = template["Resources"].values()
    mappings = [r for r in resources if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 2
    tables = [r["Properties"] for r in resources if r["Type"] == "AWS::DynamoDB::Table"]
    assert [t["TableName"] for t in tables] == ["StudioTable"]
    assert {k["AttributeName"]: k["KeyType"] for k in tables[0]["KeySchema"]} == {
        "PK": "HASH",
        "SK": "RANGE",
    }
    assert tables[0]["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    streams = [r["Properties"] for r in resources if r["Type"] == "AWS::Kinesis::Stream"]
    assert [s["Name"] for s in streams] == ["StudioAppActivity"]
    glue = sorted(
        r["Properties"]["TableInput"]["Name"] for r in resources if r["Type"] == "AWS::Glue::Table"
    )
    assert glue == ["app_activity", "quarantine", "studio"]
    policies = json.dumps([r for r in resources if r["Type"] == "AWS::IAM::Policy"])
    assert "bronze/studio/*" in policies and "bronze/app_activity/*" in policies
    assert "bronze/orders" not in policies and "bronze/events" not in policies
