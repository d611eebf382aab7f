"""Grafana alert rules generated from flows/alert_rules.yml, the file the Prefect flow evaluates.

One definition: each rule's SQL is `flows.alerts.rule_query`, the query the
alerts flow runs after every transform, with its bound values written as
Athena literals. The one value that moves, the start of a rule's window
("today minus window_days"), becomes `cast($__timeTo() as date) - interval`,
so Grafana measures the window from the evaluation time as the flow measures it
from its run date. The query returns one number (Format as Table, one numeric
column), which Grafana alerting takes as numeric data: a threshold expression
decides, with no reduce step.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_model

from flows.alerts import AlertRule, load_rules, rule_query
from flows.warehouse.gold_queries import athena_literal
from flows.warehouse.lakehouse import PROJECT_DIR
from grafana.builder import DATASOURCE_UID
from grafana.builder.board import athena_query
from grafana.builder.fields import Query, number
from ingestion.settings import Settings

FOLDER_UID = "streamlake"
FOLDER_TITLE = "Streamlake"
GROUP = "streamlake-gold"
INTERVAL = "5m"
# Every generated rule carries this label; the pipeline dashboard's alert list filters on it.
RULE_LABELS = {"source": "streamlake"}
# The rules file the alerts flow reads by default (the setting alert_rules_path).
RULES_FILE = PROJECT_DIR / str(Settings.model_fields["alert_rules_path"].default)
_EVALUATOR = {"above": "gt", "below": "lt"}
# Any date serves: the window's bound is recognised by its value and replaced.
_PROBE_DAY = date(2000, 1, 1)


def rule_uid(rule: AlertRule) -> str:
    uid = f"streamlake-{rule.name}".replace("_", "-")
    if len(uid) > 40:  # Grafana's limit for a uid
        raise ValueError(f"alert rule name {rule.name!r} is too long for a Grafana uid")
    return uid


def window_start(days: int) -> str:
    """The last day before a rule's window, from the evaluation time (Athena macros)."""
    return f"cast($__timeTo() as date) - {days} * interval '1' day"


def grafana_sql(rule: AlertRule) -> str:
    """The rule's query as Grafana sends it to Athena, Gold tables unqualified."""
    sql, parameters = rule_query(rule, rule.model, _PROBE_DAY)
    pieces = sql.split("?")
    if len(pieces) != len(parameters) + 1:
        raise ValueError(f"alert rule {rule.name}: cannot match parameters to placeholders")
    literals = [athena_literal(value) for value in parameters]
    if rule.window_days is not None:
        # rule_query binds the window's bound last; check it is that value before replacing it.
        bound = (_PROBE_DAY - timedelta(days=rule.window_days)).isoformat()
        if not parameters or parameters[-1] != bound:
            raise ValueError(f"alert rule {rule.name}: the window bound is not the last parameter")
        literals[-1] = window_start(rule.window_days)
    return "".join(piece + literal for piece, literal in zip(pieces, [*literals, ""], strict=True))


def grafana_query(rule: AlertRule) -> Query:
    return Query(grafana_sql(rule), (number("observed"),))


def _window_seconds(rule: AlertRule) -> int:
    # $__timeTo() is the end of the query's range; the start only has to cover the window.
    return (rule.window_days or 1) * 86400


def grafana_rule(rule: AlertRule) -> alerting.Rule:
    threshold = (
        expr.TypeThreshold()
        .ref_id("B")
        .expression("A")
        .conditions(
            [
                expr.ExprTypeThresholdConditions().evaluator(
                    expr.ExprTypeThresholdConditionsEvaluator()
                    .params([rule.threshold])
                    .type(_EVALUATOR[rule.condition])
                )
            ]
        )
    )
    return (
        alerting.Rule(rule.name)
        .uid(rule_uid(rule))
        .condition("B")
        .with_query(
            alerting.Query("A")
            .datasource_uid(DATASOURCE_UID)
            .relative_time_range(
                alerting_model.RelativeTimeRange(from_val=_window_seconds(rule), to=0)
            )
            .model(athena_query(grafana_query(rule), uid=DATASOURCE_UID))
        )
        .with_query(alerting.Query("B").datasource_uid("__expr__").model(threshold))
        .no_data_state("NoData")
        .exec_err_state("Error")
        .for_val("0s")
        .labels({"severity": rule.severity, "model": rule.model, **RULE_LABELS})
        .annotations(
            {
                "summary": (
                    f"{rule.aggregate}({rule.model}.{rule.value}) {rule.condition} "
                    f"{rule.threshold:g}"
                ),
                "description": rule.description,
            }
        )
    )


# Fields of the API's rule that the file provisioning format does not take.
_API_ONLY = ("folderUID", "orgID", "ruleGroup", "id", "updated", "provenance")


def provisioning(rules: list[AlertRule]) -> dict[str, Any]:
    """Grafana's alert rule provisioning document (apiVersion 1) for the rules."""
    documents = []
    for rule in rules:
        document = json.loads(json.dumps(grafana_rule(rule).build(), cls=JSONEncoder))
        for key in _API_ONLY:
            document.pop(key, None)
        documents.append(document)
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": FOLDER_TITLE,
                "interval": INTERVAL,
                "rules": documents,
            }
        ],
    }


def provisioning_text(rules_file: Path | None = None) -> str:
    """The provisioning file's exact content, generated from the rules file."""
    header = (
        "# Generated by `streamlake dashboards generate` from flows/alert_rules.yml,\n"
        "# the rules the Prefect alerts flow evaluates. Do not edit: edit that file.\n"
    )
    rules = load_rules(rules_file or RULES_FILE)
    body = yaml.safe_dump(provisioning(rules), sort_keys=True, width=100)
    return header + body
