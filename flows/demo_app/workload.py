"""A seeded, repeatable e-commerce application: its DynamoDB changes and its analytics events.

Everything here is pure: given a WorkloadConfig, the same records come out.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flows.demo_app.lambda_events import dynamodb_record, kinesis_record

REGIONS = {
    "North America": [
        ("US", "California", "San Francisco"),
        ("US", "New York", "New York"),
        ("CA", "Ontario", "Toronto"),
    ],
    "Europe": [
        ("DE", "Bavaria", "Munich"),
        ("FR", "Ile-de-France", "Paris"),
        ("GB", "England", "London"),
    ],
    "Asia Pacific": [
        ("JP", "Tokyo", "Tokyo"),
        ("AU", "New South Wales", "Sydney"),
        ("SG", "Singapore", "Singapore"),
    ],
    "Latin America": [("BR", "Sao Paulo", "Sao Paulo"), ("MX", "CDMX", "Mexico City")],
}
CATEGORIES = ["electronics", "books", "home", "toys", "sports", "beauty"]
DEVICES = [
    ("mobile", "iOS", "Safari"),
    ("mobile", "Android", "Chrome"),
    ("desktop", "Windows", "Edge"),
    ("desktop", "macOS", "Chrome"),
    ("tablet", "iPadOS", "Safari"),
]
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Shafi",
    "Leslie",
    "Hedy",
    "Dennis",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Allen",
    "McCarthy",
    "Perlman",
    "Berners-Lee",
    "Goldwasser",
    "Lamport",
    "Lamarr",
    "Ritchie",
]
ORDER_FLOW = ["placed", "paid", "shipped", "delivered"]
EVENT_TYPES = [
    "page_view",
    "search",
    "product_view",
    "add_to_cart",
    "checkout_start",
    "purchase",
    "signup",
]

KINESIS_SEQUENCE_BASE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898
DYNAMODB_SEQUENCE_BASE = 100_000_000_000_000_000_000


@dataclass(frozen=True)
class WorkloadConfig:
    seed: int = 7
    customers: int = 200
    products: int = 60
    orders: int = 2_000
    events: int = 20_000
    days: int = 14
    end: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(second=0, microsecond=0)
    )
    late_fraction: float = 0.02  # events whose event time lies days before their arrival
    late_days_max: int = 21
    delete_fraction: float = 0.02  # orders removed from the table
    update_fraction: float = 0.30  # orders that move on from placed
    stream: str = "events"
    shards: int = 2
    # For a later slice of the same application (benchmarks, continuous ingest):
    # sequence numbers continue after `sequence_start` records, orders are
    # numbered from `order_offset`, and customers and products, already known,
    # are not emitted again.
    sequence_start: int = 0
    order_offset: int = 0
    emit_reference_data: bool = True

    def __post_init__(self) -> None:
        for name in ("customers", "products", "orders", "events", "days", "shards"):
            if getattr(self, name) < (0 if name in ("orders", "events") else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("late_fraction", "delete_fraction", "update_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie between 0 and 1, got {getattr(self, name)}")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)


@dataclass
class Workload:
    """The application's stream records, per table and per shard, in stream order."""

    dynamodb: dict[str, list[dict[str, Any]]]  # table -> records
    kinesis: dict[str, list[dict[str, Any]]]  # shard -> records
    stream: str

    def counts(self) -> dict[str, int]:
        """Records per Bronze source, before any fault is injected."""
        counts = {table: len(records) for table, records in self.dynamodb.items()}
        counts[self.stream] = sum(len(records) for records in self.kinesis.values())
        return counts


@dataclass
class _Change:
    at: datetime
    table: str
    event_name: str
    keys: dict[str, Any]
    new: dict[str, Any] | None
    old: dict[str, Any] | None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


def generate(config: WorkloadConfig) -> Workload:
    rng = random.Random(config.seed)
    changes: list[_Change] = []
    customers = _customers(rng, config, changes)
    products = _products(rng, config, changes)
    if not config.emit_reference_data:
        changes.clear()
    _orders(rng, config, customers, products, changes)
    dynamodb = _sequence_changes(changes, config.sequence_start)
    kinesis = _events(rng, config, customers, products)
    return Workload(dynamodb=dynamodb, kinesis=kinesis, stream=config.stream)


def _customers(rng: random.Random, config: WorkloadConfig, changes: list[_Change]) -> list[dict]:
    customers = []
    for n in range(config.customers):
        region = rng.choice(list(REGIONS))
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        item = {
            "customer_id": f"c-{n:06d}",
            "name": name,
            "email": f"{name.lower().replace(' ', '.')}.{n}@example.com",
            "region": region,
            "created_at": _iso(_between(rng, config.start, config.start + timedelta(days=1))),
        }
        customers.append(item)
        changes.append(
            _Change(
                datetime.fromisoformat(item["created_at"]),
                "customers",
                "INSERT",
                {"customer_id": item["customer_id"]},
                item,
                None,
            )
        )
    # A few customers move region: a MODIFY that Silver must apply by sequence number.
    for item in rng.sample(customers, k=max(1, len(customers) // 20)):
        moved = {**item, "region": rng.choice(list(REGIONS))}
        at = _between(rng, config.start + timedelta(days=1), config.end)
        changes.append(
            _Change(
                at, "customers", "MODIFY", {"customer_id": item["customer_id"]}, moved, dict(item)
            )
        )
        item.update(moved)
    return customers


def _products(rng: random.Random, config: WorkloadConfig, changes: list[_Change]) -> list[dict]:
    products = []
    for n in range(config.products):
        category = rng.choice(CATEGORIES)
        item = {
            "product_id": f"p-{n:05d}",
            "name": f"{category.title()} item {n}",
            "category": category,
            "price": Decimal(rng.randrange(199, 49_999)) / 100,
            "stock": rng.randrange(0, 400),
            "tags": {category, rng.choice(["new", "sale", "popular"])},
        }
        products.append(item)
        at = _between(rng, config.start, config.start + timedelta(hours=12))
        changes.append(
            _Change(at, "products", "INSERT", {"product_id": item["product_id"]}, item, None)
        )
    # Price changes and restocks during the period.
    for item in rng.sample(products, k=max(1, len(products) // 5)):
        updated = {
            **item,
            "price": (item["price"] * Decimal("0.9")).quantize(Decimal("0.01")),
            "stock": item["stock"] + rng.randrange(0, 50),
        }
        at = _between(rng, config.start + timedelta(days=1), config.end)
        changes.append(
            _Change(
                at, "products", "MODIFY", {"product_id": item["product_id"]}, updated, dict(item)
            )
        )
        item.update(updated)
    return products


def _orders(
    rng: random.Random,
    config: WorkloadConfig,
    customers: list[dict],
    products: list[dict],
    changes: list[_Change],
) -> None:
    for n in range(config.orders):
        customer = rng.choice(customers)
        product = rng.choice(products)
        quantity = rng.choice([1, 1, 1, 2, 2, 3])
        placed_at = _between(rng, config.start + timedelta(days=1), config.end)
        order = {
            "order_id": f"o-{config.order_offset + n:07d}",
            "customer_id": customer["customer_id"],
            "product_id": product["product_id"],
            "quantity": quantity,
            "amount": (product["price"] * quantity).quantize(Decimal("0.01")),
            "status": "placed",
            "created_at": _iso(placed_at),
            "updated_at": _iso(placed_at),
        }
        keys = {"order_id": order["order_id"]}
        changes.append(_Change(placed_at, "orders", "INSERT", keys, dict(order), None))
        at = placed_at
        if rng.random() < config.update_fraction:
            path = ["cancelled"] if rng.random() < 0.15 else ORDER_FLOW[1 : rng.randrange(2, 5)]
            for status in path:
                at = min(at + timedelta(hours=rng.uniform(0.5, 36)), config.end)
                updated = {**order, "status": status, "updated_at": _iso(at)}
                changes.append(_Change(at, "orders", "MODIFY", keys, updated, dict(order)))
                order = updated
        if rng.random() < config.delete_fraction:
            at = min(at + timedelta(hours=rng.uniform(0.1, 48)), config.end)
            changes.append(_Change(at, "orders", "REMOVE", keys, None, dict(order)))


def _sequence_changes(
    changes: list[_Change], sequence_start: int
) -> dict[str, list[dict[str, Any]]]:
    """Stream order is time order per table; sequence numbers follow it."""
    by_table: dict[str, list[dict[str, Any]]] = {"customers": [], "products": [], "orders": []}
    for change in sorted(changes, key=lambda c: (c.at, c.table, c.event_name != "INSERT")):
        records = by_table[change.table]
        sequence = str(DYNAMODB_SEQUENCE_BASE + (sequence_start + len(records) + 1) * 100)
        records.append(
            dynamodb_record(
                table=change.table,
                event_name=change.event_name,
                keys=change.keys,
                new_item=change.new,
                old_item=change.old,
                sequence_number=sequence,
                created=change.at,
            )
        )
    return by_table


def _shard_for(partition_key: str, shards: int) -> str:
    return f"shardId-{zlib.crc32(partition_key.encode()) % shards:012d}"


def _events(
    rng: random.Random, config: WorkloadConfig, customers: list[dict], products: list[dict]
) -> dict[str, list[dict[str, Any]]]:
    """Sessions of users walking the funnel, arriving in time order on their shards."""
    produced: list[tuple[datetime, datetime, str, bytes]] = []  # arrival, -, key, payload
    n = 0
    span = (config.end - config.start).total_seconds()
    while n < config.events:
        customer = rng.choice(customers)
        country, region, city = rng.choice(REGIONS[customer["region"]])
        device_type, os_name, browser = rng.choice(DEVICES)
        session_id = f"s-{rng.getrandbits(48):012x}"
        at = config.start + timedelta(seconds=rng.random() * span)
        steps = _session_steps(rng)
        product = rng.choice(products)
        for step in steps:
            if n >= config.events:
                break
            at += timedelta(seconds=rng.uniform(2, 90))
            if at > config.end:
                break
            properties: dict[str, Any] = {"page": f"/{step.replace('_', '-')}"}
            if step == "search":
                properties["query"] = rng.choice(CATEGORIES)
            if step in ("product_view", "add_to_cart", "checkout_start", "purchase"):
                properties.update(product_id=product["product_id"], price=float(product["price"]))
            if step == "purchase":
                properties["revenue"] = float(product["price"])
            event_time = at
            arrival = at + timedelta(seconds=rng.uniform(0.05, 2))
            if rng.random() < config.late_fraction:
                # A device that was offline: the event arrives days after it happened.
                event_time = at - timedelta(days=rng.uniform(1, config.late_days_max))
            payload = {
                "event_id": f"evt-{config.seed}-{n:09d}",
                "event_type": step,
                "user_id": customer["customer_id"],
                "session_id": session_id,
                "event_time": _iso(event_time),
                "properties": properties,
                "geo": {"country": country, "region": region, "city": city},
                "device": {"type": device_type, "os": os_name, "browser": browser},
            }
            produced.append(
                (
                    arrival,
                    event_time,
                    customer["customer_id"],
                    json.dumps(payload, separators=(",", ":")).encode(),
                )
            )
            n += 1
    produced.sort(key=lambda item: item[0])
    by_shard: dict[str, list[dict[str, Any]]] = {
        _shard_for_index(i): [] for i in range(config.shards)
    }
    for arrival, _, key, payload in produced:
        shard = _shard_for(key, config.shards)
        records = by_shard[shard]
        # Kinesis sequence numbers are unique across the stream's shards, too.
        shard_offset = int(shard.rsplit("-", 1)[1]) * 10**15
        position = config.sequence_start + len(records)
        sequence = str(KINESIS_SEQUENCE_BASE + shard_offset + position * 1_000)
        records.append(
            kinesis_record(
                payload,
                stream=config.stream,
                shard_id=shard,
                sequence_number=sequence,
                partition_key=key,
                arrival=arrival,
            )
        )
    return by_shard


def _shard_for_index(index: int) -> str:
    return f"shardId-{index:012d}"


def _session_steps(rng: random.Random) -> list[str]:
    steps = ["page_view"]
    if rng.random() < 0.05:
        steps.append("signup")
    if rng.random() < 0.5:
        steps.append("search")
    steps.append("product_view")
    for step, chance in (("add_to_cart", 0.35), ("checkout_start", 0.6), ("purchase", 0.7)):
        if rng.random() >= chance:
            break
        steps.append(step)
    return steps
