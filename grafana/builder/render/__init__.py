"""The rendered preview: each dashboard drawn from its JSON and the local Gold into a PNG.
May import what grafana.builder may: ingestion, flows.warehouse and flows.alerts.

Grafana cannot run here, so this draws what it would show: every panel at its
gridPos (24 columns, rows of about 30 px as in Grafana), its query sent with the
datasource's macros expanded for the dashboard's time range, its result drawn
as its visualization type would draw it. The alert list shows each provisioned
rule evaluated with the same SQL on the local Gold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from flows.alerts import AlertResult, load_rules
from grafana.builder import DASHBOARD_DIR
from grafana.builder.alerting import RULES_FILE, grafana_query
from grafana.builder.local import gold, run
from grafana.builder.macros import TimeRange, dashboard_range
from grafana.builder.render import panels
from grafana.builder.render.formatting import BACKGROUND, BORDER, MUTED, PANEL, TEXT, format_value
from grafana.builder.render.frames import frame
from ingestion.settings import Settings

WIDTH_PX = 1600
MARGIN_PX = 16
ROW_PX = 36  # Grafana's 30 px grid row and its 6 px gap
GAP_PX = 8
HEADER_PX = 64
TITLE_PX = 26
DPI = 100


@dataclass(frozen=True)
class Layout:
    height_px: int

    def box(self, grid: dict[str, int]) -> tuple[float, float, float, float]:
        """A grid position as (left, top, width, height) in pixels."""
        column = (WIDTH_PX - 2 * MARGIN_PX) / 24
        left = MARGIN_PX + grid["x"] * column + GAP_PX / 2
        top = HEADER_PX + grid["y"] * ROW_PX + GAP_PX / 2
        return left, top, grid["w"] * column - GAP_PX, grid["h"] * ROW_PX - GAP_PX

    def fraction(self, left: float, top: float, width: float, height: float) -> list[float]:
        """Pixels to matplotlib figure coordinates (origin bottom left)."""
        return [
            left / WIDTH_PX,
            1 - (top + height) / self.height_px,
            width / WIDTH_PX,
            height / self.height_px,
        ]


def alert_states(con: duckdb.DuckDBPyConnection, end: datetime) -> list[tuple[str, str, str]]:
    """(rule, state, detail) for each alert rule, evaluated as Grafana would at `end`."""
    states = []
    for rule in load_rules(RULES_FILE):
        window = TimeRange(end - timedelta(days=rule.window_days or 1), end)
        try:
            result = run(con, grafana_query(rule).sql, window)
        except duckdb.Error as error:
            states.append((rule.name, "Error", str(error).splitlines()[0]))
            continue
        observed = result.table.column(0)[0].as_py()
        outcome = AlertResult(rule, float(observed or 0), end)
        detail = (
            f"{rule.aggregate}({rule.model}.{rule.value}) = {format_value(outcome.observed)}, "
            f"fires {rule.condition} {rule.threshold:g}"
        )
        states.append((rule.name, "Firing" if outcome.firing else "Normal", detail))
    return states


def draw(dashboard: dict[str, Any], con: duckdb.DuckDBPyConnection, now: datetime) -> Figure:
    """The dashboard as one figure, each panel drawn from its query on the local Gold."""
    time = dashboard.get("time", {"from": "now-7d", "to": "now"})
    time_range = dashboard_range(time["from"], time["to"], now)
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    layout = Layout(HEADER_PX + rows * ROW_PX + MARGIN_PX)
    figure = Figure(figsize=(WIDTH_PX / DPI, layout.height_px / DPI), dpi=DPI)
    figure.patch.set_facecolor(BACKGROUND)
    figure.text(
        MARGIN_PX / WIDTH_PX,
        1 - 28 / layout.height_px,
        dashboard["title"],
        color=TEXT,
        fontsize=16,
        fontweight="bold",
        va="center",
    )
    span = (
        f"{time_range.utc_start:%Y-%m-%d %H:%M} to {time_range.utc_end:%Y-%m-%d %H:%M} UTC"
        f"  ({time['from']} to {time['to']})   preview of grafana/dashboards, local Gold"
    )
    figure.text(
        MARGIN_PX / WIDTH_PX, 1 - 50 / layout.height_px, span, color=MUTED, fontsize=9, va="center"
    )
    for panel in dashboard["panels"]:
        _panel(figure, layout, panel, con, time_range)
    return figure


def _panel(
    figure: Figure,
    layout: Layout,
    panel: dict[str, Any],
    con: duckdb.DuckDBPyConnection,
    time_range: TimeRange,
) -> None:
    left, top, width, height = layout.box(panel["gridPos"])
    frame_box = layout.fraction(left, top, width, height)
    figure.patches.append(
        FancyBboxPatch(
            (frame_box[0], frame_box[1]),
            frame_box[2],
            frame_box[3],
            boxstyle="round,pad=0,rounding_size=0.002",
            transform=figure.transFigure,
            facecolor=PANEL,
            edgecolor=BORDER,
            linewidth=0.8,
            figure=figure,
            zorder=-1,
        )
    )
    figure.text(
        (left + 10) / WIDTH_PX,
        1 - (top + 15) / layout.height_px,
        panel["title"],
        color=TEXT,
        fontsize=10,
        fontweight="bold",
        va="center",
    )
    legend = 34 if panel["type"] == "timeseries" else 0
    axis = 30 if panel["type"] == "timeseries" else 0
    inner = (left + 10 + axis, top + TITLE_PX + 6, width - 20 - 2 * axis, height - TITLE_PX - 14)
    inner = (inner[0], inner[1], inner[2], inner[3] - legend)
    ax = figure.add_axes(layout.fraction(*inner))
    ax.set_facecolor(PANEL)
    if panel["type"] == "alertlist":
        panels.alert_list(ax, alert_states(con, time_range.utc_end))
        return
    try:
        result = run(con, panel["targets"][0]["rawSQL"], time_range)
    except duckdb.Error as error:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"query failed: {error}", color="#f2495c", ha="center", wrap=True)
        return
    fields = frame(panel, result.table, [kind for _, kind in result.kinds])
    size = (inner[2], inner[3])
    match panel["type"]:
        case "stat":
            panels.stat(ax, panel, fields, size)
        case "timeseries":
            panels.timeseries(ax, panel, fields, size)
        case "piechart":
            panels.pie(ax, panel, fields)
        case "bargauge":
            panels.bargauge(ax, panel, fields)
        case "table":
            panels.table(ax, panel, fields, size)
        case "geomap":
            panels.geomap(ax, panel, fields, size)
        case other:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{other}: no preview", color=MUTED, ha="center")


def render(
    settings: Settings,
    out_dir: Path,
    now: datetime | None = None,
    *,
    names: list[str] | None = None,
    dashboard_dir: Path = DASHBOARD_DIR,
    dpi: int = DPI,
) -> list[Path]:
    """A PNG per dashboard file (or the named ones), drawn from the lake's Gold; their paths."""
    now = now or datetime.now(UTC)
    files = sorted(dashboard_dir.glob("*.json"))
    unknown = set(names or []) - {path.stem for path in files}
    if unknown:
        raise ValueError(f"no dashboard named {', '.join(sorted(unknown))} in {dashboard_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with gold(settings) as con:
        for path in files:
            if names and path.stem not in names:
                continue
            dashboard = json.loads(path.read_text(encoding="utf-8"))
            figure = draw(dashboard, con, now)
            target = out_dir / f"{path.stem}.png"
            figure.savefig(target, dpi=dpi, facecolor=BACKGROUND, pil_kwargs={"optimize": True})
            written.append(target)
    return written
