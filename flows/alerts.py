"""Alert rules on Gold: loaded from one YAML file, evaluated after each transform.

A firing alert is recorded in the `ops.alert_events` table and sent to the
notifier: the log always, and a webhook when STREAMLAKE_ALERT_WEBHOOK_URL is set.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flows.warehouse.gold_queries import Warehouse
from flows.warehouse.lakehouse import PROJECT_DIR
from flows.warehouse.manifest import GoldModel, check_column, gold_models
from ingestion.settings import Settings

logger = logging.getLogger("streamlake.alerts")

_NAME = r"^[a-z_][a-z0-9_]*$"
_AGGREGATES = {"sum", "avg", "min", "max", "count"}


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    description: str = ""
    model: str = Field(pattern=_NAME)
    value: str = Field(pattern=_NAME)
    aggregate: Literal["sum", "avg", "min", "max", "count"] = "sum"
    where: dict[str, str | int | float | bool] = Field(default_factory=dict)
    time_column: str | None = Field(default=None, pattern=_NAME)
    window_days: int | None = Field(default=None, gt=0)
    condition: Literal["above", "below"]
    threshold: float
    severity: Literal["critical", "warning", "info"] = "warning"

    @model_validator(mode="after")
    def _window_needs_time(self) -> AlertRule:
        if (self.time_column is None) != (self.window_days is None):
            raise ValueError("time_column and window_days go together")
        return self


class AlertRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[AlertRule]

    @model_validator(mode="after")
    def _unique_names(self) -> AlertRules:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        return self


def rules_path(settings: Settings) -> Path:
    path = Path(settings.alert_rules_path)
    return path if path.is_absolute() else PROJECT_DIR / path


def load_rules(path: Path) -> list[AlertRule]:
    """The rules of a YAML file, or a ValueError naming the file and what is wrong."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read alert rules {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"alert rules {path} are not valid YAML: {error}") from None
    try:
        return AlertRules.model_validate(document).rules
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ValueError(f"alert rules {path}: {where}: {first['msg']}") from None


def check_rule(rule: AlertRule, models: dict[str, GoldModel]) -> GoldModel:
    """Every name in a rule must be a Gold model or one of its columns."""
    if rule.model not in models:
        raise ValueError(f"alert rule {rule.name}: unknown Gold model {rule.model!r}")
    model = models[rule.model]
    check_column(model, rule.value, "value column")
    for column in rule.where:
        check_column(model, column, "filter column")
    if rule.time_column:
        check_column(model, rule.time_column, "time column")
    return model


def rule_query(rule: AlertRule, relation: str, today: date) -> tuple[str, list[Any]]:
    """The rule as one aggregate query over a Gold relation; values as parameters."""
    conditions, parameters = [], []
    for column, value in rule.where.items():
        conditions.append(f"{column} = ?")
        parameters.append(value)
    if rule.time_column and rule.window_days:
        conditions.append(f"cast({rule.time_column} as date) > cast(? as date)")
        parameters.append((today - timedelta(days=rule.window_days)).isoformat())
    where = " and ".join(conditions) or "1 = 1"
    sql = (
        f"select cast(coalesce({rule.aggregate}({rule.value}), 0) as double) as observed "
        f"from {relation} where {where}"
    )
    return sql, parameters


@dataclass(frozen=True)
class AlertResult:
    rule: AlertRule
    observed: float
    evaluated_at: datetime

    @property
    def firing(self) -> bool:
        if self.rule.condition == "above":
            return self.observed > self.rule.threshold
        return self.observed < self.rule.threshold

    @property
    def message(self) -> str:
        rule = self.rule
        return (
            f"[{rule.severity}] {rule.name}: {rule.aggregate}({rule.model}.{rule.value}) = "
            f"{self.observed:g}, {rule.condition} {rule.threshold:g}. {rule.description}"
        ).strip()


def evaluate(
    rules: list[AlertRule],
    warehouse: Warehouse,
    settings: Settings,
    now: datetime | None = None,
    on_skipped: Callable[[str], None] | None = None,
) -> list[AlertResult]:
    """Every rule's value now. A rule of a Gold model the project no longer has (an
    application brought in place of the demo shop) is skipped and said to `on_skipped`."""
    now = now or datetime.now(UTC)
    models = gold_models(settings)
    kept = [rule for rule in rules if rule.model in models]
    for rule in rules:
        if rule.model not in models and on_skipped is not None:
            on_skipped(
                f"alert rule {rule.name} reads the Gold model {rule.model}, which the project "
                f"does not have: skipped (delete it from {settings.alert_rules_path})"
            )
    rules = kept
    if not rules:
        return []
    for rule in rules:
        check_rule(rule, models)
    observed = warehouse.query(*rules_query(rules, warehouse.gold, now.date()))
    return [
        AlertResult(rule, float(observed.column(number)[0].as_py() or 0), now)
        for number, rule in enumerate(rules)
    ]


def rules_query(
    rules: list[AlertRule], relation_of: Callable[[str], str], today: date
) -> tuple[str, list[Any]]:
    """Every rule's aggregate in one statement, one column per rule (rule_0, ...):
    on Athena each query is billed 10 MB at least and takes a second or more,
    and the rules run after every transform."""
    columns, parameters = [], []
    for number, rule in enumerate(rules):
        sql, rule_parameters = rule_query(rule, relation_of(rule.model), today)
        columns.append(f"({sql}) as rule_{number}")
        parameters += rule_parameters
    return f"select {', '.join(columns)}", parameters


def insert_statement(table: str) -> str:
    """One alert event into `table`, its eight values as parameters (Athena and DuckDB)."""
    return (
        f"insert into {table} (fired_at, rule_name, severity, model, observed, "
        "alert_condition, threshold, message) select ?, ?, ?, ?, ?, ?, ?, ?"
    )


def record(firing: list[AlertResult], warehouse: Warehouse) -> None:
    """Append firing alerts to ops.alert_events (created on first use)."""
    if not firing:
        return
    insert = insert_statement(warehouse.ops_table("alert_events"))
    statements: list[tuple[str, list[Any]]] = [(sql, []) for sql in warehouse.alert_table_ddl()]
    for result in firing:
        rule = result.rule
        statements.append(
            (
                insert,
                [
                    result.evaluated_at.replace(tzinfo=None),
                    rule.name,
                    rule.severity,
                    rule.model,
                    result.observed,
                    rule.condition,
                    rule.threshold,
                    result.message,
                ],
            )
        )
    warehouse.execute(statements)


def notify(firing: list[AlertResult], settings: Settings) -> None:
    """Log every firing alert; POST them as JSON to the webhook when one is set."""
    for result in firing:
        logger.warning("alert firing: %s", result.message)
    if not firing or not settings.alert_webhook_url:
        return
    payload = json.dumps(
        {
            "alerts": [
                {
                    "rule": r.rule.name,
                    "severity": r.rule.severity,
                    "observed": r.observed,
                    "condition": r.rule.condition,
                    "threshold": r.rule.threshold,
                    "message": r.message,
                    "evaluated_at": r.evaluated_at.isoformat(),
                }
                for r in firing
            ]
        }
    ).encode()
    request = urllib.request.Request(
        settings.alert_webhook_url,
        data=payload,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except (urllib.error.URLError, TimeoutError) as error:
        # A notifier that is down must not fail the pipeline; the table keeps the record.
        logger.error("alert webhook %s failed: %s", settings.alert_webhook_url, error)
