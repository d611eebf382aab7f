"""A dashboard under construction: SDK panels placed on the grid, each with its declared query.

Every panel gets a stable id (its position in the dashboard), the datasource
variable, and one Athena query against the Gold database (the datasource's
default database, so the SQL names Gold tables unqualified). The declared
queries stay with the board so the checks can find, for each panel of the
generated JSON, the columns it must return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from grafana_foundation_sdk.builders import athena
from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import athena as athena_model
from grafana_foundation_sdk.models import dashboard as model

from grafana.builder import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID, DATASOURCE_VARIABLE
from grafana.builder.fields import Query

DATASOURCE = model.DataSourceRef(type_val=DATASOURCE_TYPE, uid=f"${{{DATASOURCE_VARIABLE}}}")
GRID_COLUMNS = 24
_FORMATS = {
    "table": athena_model.FormatOptions.TABLE,
    "time_series": athena_model.FormatOptions.TIME_SERIES,
}


class PanelBuilder(Protocol):
    """What every SDK panel builder offers that a board uses."""

    def id(self, id_val: int) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...
    def datasource(self, datasource: model.DataSourceRef) -> Self: ...
    def with_target(self, target: Any) -> Self: ...
    def build(self) -> model.Panel: ...


def athena_query(query: Query, ref_id: str = "A", uid: str | None = None) -> athena.Dataquery:
    """The query as grafana-athena-datasource stores it: raw SQL, the database by default."""
    datasource = DATASOURCE if uid is None else model.DataSourceRef(DATASOURCE_TYPE, uid)
    return (
        athena.Dataquery()
        .ref_id(ref_id)
        .format(_FORMATS[query.format])
        .raw_sql(query.sql)
        .datasource(datasource)
        .connection_args(athena.ConnectionArgs())
    )


@dataclass
class Board:
    """One dashboard. `name` is its file stem and the dbt exposure that lists its models."""

    name: str
    uid: str
    title: str
    description: str
    time_from: str = "now-7d"
    queries: dict[int, Query] = field(default_factory=dict)
    _panels: list[PanelBuilder] = field(default_factory=list)
    _row_width: int = 0

    def add(self, panel: PanelBuilder, query: Query | None, *, width: int, height: int) -> None:
        """Place a panel right of the previous one; rows must fill the 24 columns exactly."""
        if self._row_width + width > GRID_COLUMNS:
            raise ValueError(f"{self.name}: panel overflows the row ({self._row_width} + {width})")
        self._row_width = (self._row_width + width) % GRID_COLUMNS
        panel_id = len(self._panels) + 1
        panel.id(panel_id).span(width).height(height)
        if query is not None:
            panel.datasource(DATASOURCE).with_target(athena_query(query))
            self.queries[panel_id] = query
        self._panels.append(panel)

    def build(self) -> sdk.Dashboard:
        if self._row_width:
            raise ValueError(f"{self.name}: the last row is not full ({self._row_width} of 24)")
        current = model.VariableOption(text=DATASOURCE_NAME, value=DATASOURCE_UID)
        dashboard = (
            sdk.Dashboard(self.title)
            .uid(self.uid)
            .description(self.description)
            .tags(["streamlake", "gold"])
            .time(self.time_from, "now")
            .timezone("utc")
            .refresh("15m")
            .readonly()
            .tooltip(model.DashboardCursorSync.CROSSHAIR)
            .with_variable(
                sdk.DatasourceVariable(DATASOURCE_VARIABLE)
                .label("Athena datasource")
                .type(DATASOURCE_TYPE)
                .current(current)
            )
            .link(
                sdk.DashboardLink("Streamlake dashboards")
                .type(model.DashboardLinkType.DASHBOARDS)
                .tags(["streamlake"])
                .as_dropdown(True)
                .keep_time(True)
            )
        )
        for panel in self._panels:
            dashboard.with_panel(panel)
        return dashboard

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.build().build(), cls=JSONEncoder))

    def json_text(self) -> str:
        """The dashboard file's exact content: stable key order, one trailing newline."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
