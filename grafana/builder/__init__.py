"""Grafana on Gold as code: dashboards, alert rules and rendered previews generated from Python.
May import ingestion, flows.warehouse and flows.alerts (the alert rules' one definition).

Dashboards are built with grafana-foundation-sdk (sales.py, product_analytics.py,
pipeline_health.py) and generated into grafana/dashboards/*.json; the alert rules
of flows/alert_rules.yml become Grafana provisioning (alerting.py). Every panel
queries Gold through grafana-athena-datasource with the datasource's macros
($__dateFilter, $__timeFilter, $__timeFrom, $__timeTo), which macros.py expands
exactly as the datasource does, so the same SQL also runs on the local DuckLake
Gold (local.py) and can be drawn without a Grafana server (render.py).

Nothing here imports Prefect: the `streamlake run` command renders the previews
after its flows have run.
"""

from __future__ import annotations

from pathlib import Path

from flows.warehouse.lakehouse import PROJECT_DIR

GRAFANA_DIR: Path = PROJECT_DIR / "grafana"
DASHBOARD_DIR: Path = GRAFANA_DIR / "dashboards"
PROVISIONING_DIR: Path = GRAFANA_DIR / "provisioning"
ALERT_RULES_FILE: Path = PROVISIONING_DIR / "alerting" / "streamlake-rules.yaml"

# One datasource, provisioned with this uid (grafana/provisioning/datasources/);
# dashboards pick it through the `datasource` variable, alert rules by uid.
DATASOURCE_TYPE = "grafana-athena-datasource"
DATASOURCE_UID = "streamlake-athena"
DATASOURCE_NAME = "Athena (Gold)"
DATASOURCE_VARIABLE = "datasource"
