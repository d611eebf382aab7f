"""One panel drawn with matplotlib the way its Grafana visualization would show the data.

Each function draws into the panel's content axes from the panel's JSON (its
options and field settings) and the fields of its query's result. What a
preview cannot do (map tiles, interactivity) it leaves out; it never draws data
the query did not return.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import FuncFormatter

from grafana.builder.render.formatting import (
    BORDER,
    GRID,
    MUTED,
    PALETTE,
    PANEL,
    TEXT,
    format_value,
)
from grafana.builder.render.frames import Field
from grafana.builder.render.geo import CENTROIDS, OUTLINES

PX_TO_PT = 0.72  # at 100 dpi


def no_data(ax: Axes) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, "No data", color=MUTED, ha="center", va="center", fontsize=12)


def _style_axes(ax: Axes) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=8, length=0)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def _fit_font(text: str, width_px: float, height_px: float, ceiling: float = 40) -> float:
    """Points for text to fill a box: bounded by its height and by its length."""
    by_height = height_px * 0.55
    by_width = width_px * 0.9 / max(len(text) * 0.6, 1)
    return max(7.0, min(by_height, by_width, ceiling / PX_TO_PT)) * PX_TO_PT


def _reduce_fields(panel: dict[str, Any], fields: list[Field]) -> list[Field]:
    pattern = panel.get("options", {}).get("reduceOptions", {}).get("fields", "")
    if pattern:
        regex = pattern.strip("/")
        return [f for f in fields if re.fullmatch(regex, f.name)]
    return [f for f in fields if f.kind == "number"]


def stat(ax: Axes, panel: dict[str, Any], fields: list[Field], size: tuple[float, float]) -> None:
    """Big numbers, one cell per field (or per row), coloured as the panel's colour mode says."""
    options = panel.get("options", {})
    shown = _reduce_fields(panel, fields)
    if not shown or all(f.last() is None for f in shown):
        no_data(ax)
        return
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    width_px, height_px = size
    cell = 1 / len(shown)
    background = options.get("colorMode") == "background"
    with_name = options.get("textMode") in ("value_and_name", "auto") and len(shown) > 1
    longest = max((f.display_name for f in shown), key=len)
    name_size = _fit_font(longest, width_px * cell, height_px * 0.3, 14)
    for index, field in enumerate(shown):
        value = field.last()
        text = format_value(value, field.unit, field.decimals)
        colour = field.colour_for(value, index)
        left = index * cell
        if background:
            ax.add_patch(Rectangle((left + 0.005, 0.02), cell - 0.01, 0.96, color=colour))
        value_y = 0.42 if with_name else 0.5
        ax.text(
            left + cell / 2,
            value_y,
            text,
            color="white" if background else colour,
            ha="center",
            va="center",
            fontsize=_fit_font(text, width_px * cell, height_px * (0.7 if with_name else 1)),
            fontweight="bold",
        )
        if with_name:
            ax.text(
                left + cell / 2,
                0.86,
                field.display_name,
                color=TEXT,
                ha="center",
                va="center",
                fontsize=name_size,
            )


def _bar_width(times: Sequence[Any]) -> float:
    numbers = sorted(mdates.date2num(list(times)))
    gaps = [b - a for a, b in itertools.pairwise(numbers) if b > a]
    return (min(gaps) if gaps else 1.0) * 0.8


def timeseries(
    ax: Axes, panel: dict[str, Any], fields: list[Field], size: tuple[float, float]
) -> None:
    """Lines or bars over time; stacked when the panel stacks; right axis where a field says."""
    time_field = next((f for f in fields if f.kind == "time"), None)
    series = [f for f in fields if f.kind == "number"]
    if time_field is None or not series or not time_field.values:
        no_data(ax)
        return
    _style_axes(ax)
    defaults = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
    stacked = (defaults.get("stacking") or {}).get("mode") == "normal"
    times = [_as_datetime(t) for t in time_field.values]
    right = None
    base = [0.0] * len(times)
    handles = []
    for index, field in enumerate(series):
        custom = field.config.get("custom", {})
        target = ax
        if custom.get("axisPlacement") == "right":
            right = right or ax.twinx()
            target = right
        values = [float(v) if v is not None else math.nan for v in field.values]
        colour = field.colour_for(None, index)
        bottom = base if stacked and target is ax else [0.0] * len(times)
        if custom.get("drawStyle", "line") == "bars":
            bottoms = [0.0 if math.isnan(v) else b for v, b in zip(values, bottom, strict=True)]
            handle = target.bar(
                times,
                [0.0 if math.isnan(v) else v for v in values],
                width=_bar_width(times),
                bottom=bottoms,
                color=colour,
                alpha=custom.get("fillOpacity", 80) / 100,
                label=field.display_name,
            )
        else:
            tops = [b + (0.0 if math.isnan(v) else v) for v, b in zip(values, bottom, strict=True)]
            line = tops if stacked and target is ax else values
            (handle,) = target.plot(
                times,
                line,
                color=colour,
                linewidth=custom.get("lineWidth", 1.5),
                label=field.display_name,
            )
            if custom.get("fillOpacity"):
                target.fill_between(times, bottom, line, color=colour, alpha=0.25, linewidth=0)
        if stacked and target is ax:
            base = [b + (0.0 if math.isnan(v) else v) for v, b in zip(values, base, strict=True)]
        handles.append(handle)
        _unit_axis(target, field)
    if right is not None:
        right.tick_params(colors=MUTED, labelsize=8, length=0)
        for spine in right.spines.values():
            spine.set_visible(False)
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    # Below the tick labels, in the band the layout leaves under the axes.
    legend = ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -18 / size[1]),
        ncol=min(len(handles), 7),
        frameon=False,
        fontsize=8,
        labelcolor=TEXT,
        handlelength=1.2,
    )
    legend.set_in_layout(False)


def _unit_axis(ax: Axes, field: Field) -> None:
    unit = field.unit
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_value(value, unit, 0)))


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"not a time: {value!r}")


def _label_and_value(fields: list[Field]) -> tuple[Field, Field] | None:
    labels = next((f for f in fields if f.kind == "string"), None)
    values = next((f for f in fields if f.kind == "number"), None)
    if labels is None or values is None or not values.values:
        return None
    return labels, values


def pie(ax: Axes, panel: dict[str, Any], fields: list[Field]) -> None:
    """A donut (or pie) of each row's value, labelled by its string field."""
    pair = _label_and_value(fields)
    if pair is None or not any(v for v in pair[1].values):
        no_data(ax)
        return
    labels, values = pair
    numbers = [float(v or 0) for v in values.values]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(numbers))]
    donut = panel.get("options", {}).get("pieType") == "donut"
    ax.set_position(_shrink_left(ax, 0.55))
    wedges, _, _ = ax.pie(
        numbers,
        colors=colours,
        startangle=90,
        counterclock=False,
        autopct=lambda share: f"{share:.0f}%",
        pctdistance=0.78 if donut else 0.6,
        wedgeprops={"width": 0.45 if donut else 1, "edgecolor": PANEL, "linewidth": 1.5},
        textprops={"color": "white", "fontsize": 8},
    )
    ax.set_aspect("equal")
    ax.legend(
        wedges,
        [
            f"{name}  {format_value(value, values.unit, values.decimals)}"
            for name, value in zip(labels.values, values.values, strict=True)
        ],
        loc="center left",
        bbox_to_anchor=(1.02, 0.5),
        frameon=False,
        fontsize=9,
        labelcolor=TEXT,
    )


def _shrink_left(ax: Axes, share: float) -> Any:
    box = ax.get_position()
    return [box.x0, box.y0, box.width * share, box.height]


def bargauge(ax: Axes, panel: dict[str, Any], fields: list[Field]) -> None:
    """One horizontal bar per row, named by its string field, coloured per value."""
    pair = _label_and_value(fields)
    if pair is None:
        no_data(ax)
        return
    labels, values = pair
    numbers = [float(v) if v is not None else 0.0 for v in values.values]
    low = min(0.0, *numbers)
    high = max(0.0, *numbers) or 1.0
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(len(numbers), 0)
    span = high - low
    zero = (0 - low) / span
    for row, (name, number) in enumerate(zip(labels.values, numbers, strict=True)):
        colour = values.colour_for(number, row)
        start = min(zero, (number - low) / span)
        width = abs(number) / span
        ax.add_patch(Rectangle((0.3, row + 0.2), 0.55, 0.6, color=BORDER, linewidth=0))
        ax.add_patch(Rectangle((0.3 + 0.55 * start, row + 0.2), 0.55 * width, 0.6, color=colour))
        ax.text(0.29, row + 0.5, str(name), color=TEXT, ha="right", va="center", fontsize=8)
        text = format_value(values.values[row], values.unit, values.decimals)
        ax.text(0.86, row + 0.5, text, color=colour, ha="left", va="center", fontsize=9)


def _cell_kind(field: Field) -> str:
    return (field.config.get("custom", {}).get("cellOptions") or {}).get("type", "auto")


def table(ax: Axes, panel: dict[str, Any], fields: list[Field], size: tuple[float, float]) -> None:
    """Rows as text, coloured cells where a column colours its background, bars for gauges."""
    rows = len(fields[0].values) if fields else 0
    if not rows:
        no_data(ax)
        return
    ax.set_axis_off()
    row_px = 22
    fit = max(2, int(size[1] // row_px))  # lines that fit, the header's included
    shown = min(rows, fit - 1) if rows <= fit - 1 else fit - 2  # keep a line to say how many more
    texts = [[format_value(v, f.unit, f.decimals) for v in f.values[:shown]] for f in fields]
    widths = [
        max(len(f.display_name), *(len(t) for t in column)) + 2
        for f, column in zip(fields, texts, strict=True)
    ]
    total = sum(widths)
    ax.set_xlim(0, 1)
    ax.set_ylim(fit, 0)
    left = 0.0
    for field, column, width in zip(fields, texts, widths, strict=True):
        share = width / total
        ax.text(left + 0.005, 0.5, field.display_name, color=MUTED, va="center", fontsize=8.5)
        kind = _cell_kind(field)
        numbers = [float(v) for v in field.values[:shown] if isinstance(v, int | float)]
        peak = max(numbers, default=0) or 1
        for row, text in enumerate(column, start=1):
            value = field.values[row - 1]
            colour = TEXT
            if kind == "color-background":
                ax.add_patch(
                    Rectangle(
                        (left, row + 0.06),
                        share - 0.004,
                        0.88,
                        color=field.colour_for(value, row),
                        linewidth=0,
                    )
                )
                colour = "white"
            elif kind == "gauge" and isinstance(value, int | float):
                ax.add_patch(
                    Rectangle(
                        (left, row + 0.25),
                        share * 0.6 * float(value) / peak,
                        0.5,
                        color=field.colour_for(value, 0),
                        linewidth=0,
                    )
                )
                ax.text(left + share * 0.62, row + 0.5, text, color=TEXT, va="center", fontsize=8.5)
                continue
            ax.text(left + 0.005, row + 0.5, text, color=colour, va="center", fontsize=8.5)
        left += share
    for row in range(1, shown + 1):
        ax.axhline(row, color=BORDER, linewidth=0.5)
    if rows > shown:
        ax.text(
            0.005,
            shown + 1.5,
            f"... and {rows - shown} more rows",
            color=MUTED,
            va="center",
            fontsize=8,
        )


def geomap(ax: Axes, panel: dict[str, Any], fields: list[Field], size: tuple[float, float]) -> None:
    """Bubbles on country centroids over coarse coastlines (no tiles offline)."""
    pair = _label_and_value(fields)
    if pair is None:
        no_data(ax)
        return
    codes, values = pair
    ax.set_facecolor("#0d1a26")
    for spine in ax.spines.values():
        spine.set_color(BORDER)
    ax.set_xticks([])
    ax.set_yticks([])
    for ring in OUTLINES:
        ax.add_patch(Polygon(ring, closed=True, color="#2a3b2c", linewidth=0))
    # Equal degrees both ways, the latitudes shown as many as the panel's shape allows.
    ax.set_xlim(-170, 180)
    half = 350 * size[1] / size[0] / 2
    ax.set_ylim(13 - half, 13 + half)
    numbers = [float(v or 0) for v in values.values]
    peak = max(numbers, default=0) or 1
    missing = []
    for code, number in zip(codes.values, numbers, strict=True):
        where = CENTROIDS.get(str(code).upper())
        if where is None:
            missing.append(str(code))
            continue
        latitude, longitude = where
        size = 40 + 900 * number / peak
        ax.scatter(
            longitude,
            latitude,
            s=size,
            color="#73bf69",
            alpha=0.6,
            edgecolors="white",
            linewidths=0.5,
            zorder=3,
        )
        ax.text(
            longitude,
            latitude + 6,
            f"{code} {format_value(number, values.unit)}",
            color=TEXT,
            fontsize=7,
            ha="center",
            zorder=4,
        )
    if missing:
        ax.text(-165, -52, "not placed: " + ", ".join(missing), color=MUTED, fontsize=7)


def alert_list(ax: Axes, states: list[tuple[str, str, str]]) -> None:
    """Each alert rule with its state, as Grafana's alert list shows them."""
    if not states:
        no_data(ax)
        return
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(max(len(states), 5), 0)
    badge = {"Firing": "#f2495c", "Normal": "#73bf69", "Error": "#ff9830"}
    for row, (title, state, detail) in enumerate(states):
        ax.add_patch(Rectangle((0.0, row + 0.2), 0.09, 0.6, color=badge.get(state, MUTED)))
        ax.text(0.045, row + 0.5, state, color="white", ha="center", va="center", fontsize=8)
        ax.text(0.11, row + 0.5, title, color=TEXT, va="center", fontsize=9, fontweight="bold")
        ax.text(0.42, row + 0.5, detail, color=MUTED, va="center", fontsize=8)
