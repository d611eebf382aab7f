"""Grafana's look, as far as a preview needs it: its dark theme, named colours, units."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2b2f36"
TEXT = "#ccccdc"
MUTED = "#8e8e9e"
GRID = "#2a2d33"

# Grafana's named colours (the ones the dashboards use) and its classic palette.
NAMED = {
    "green": "#73bf69",
    "dark-green": "#37872d",
    "red": "#f2495c",
    "orange": "#ff9830",
    "yellow": "#fade2a",
    "blue": "#5794f2",
    "purple": "#b877d9",
    "text": TEXT,
    "transparent": "#00000000",
}
PALETTE = (
    "#7eb26d",
    "#eab839",
    "#6ed0e0",
    "#ef843c",
    "#e24d42",
    "#1f78c1",
    "#ba43a9",
    "#705da0",
    "#508642",
    "#cca300",
)


def colour(name: str | None, fallback: str = PALETTE[0]) -> str:
    if not name:
        return fallback
    return NAMED.get(name, name)


def _scaled(value: float, steps: tuple[tuple[float, str], ...]) -> tuple[float, str]:
    for size, suffix in steps:
        if abs(value) >= size:
            return value / size, suffix
    return value, ""


def _number(value: float, decimals: int | None) -> str:
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    magnitude = abs(value)
    places = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2
    return f"{value:,.{places}f}"


def _short(value: float, decimals: int | None) -> str:
    scaled, suffix = _scaled(value, ((1e9, " Bil"), (1e6, " Mil"), (1e3, " K")))
    if not suffix:
        return _number(value, decimals)
    return f"{_number(round(scaled, 2), decimals if decimals is not None else None)}{suffix}"


def _minutes(value: float) -> str:
    if abs(value) < 60:
        return f"{value:.0f} min"
    if abs(value) < 1440:
        return f"{value / 60:.1f} hour"
    return f"{value / 1440:.1f} day"


def format_value(value: Any, unit: str | None = None, decimals: int | None = None) -> str:
    """A value as Grafana would print it with the field's unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "No data"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    number = float(value)
    if unit == "percentunit":
        return f"{number * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "currencyUSD":
        scaled, suffix = _scaled(number, ((1e9, "B"), (1e6, "M"), (1e3, "K")))
        places = decimals if decimals is not None else (2 if suffix or abs(number) < 1e3 else 0)
        return f"${scaled:,.{places}f}{suffix}"
    if unit == "m":
        return _minutes(number)
    return _short(number, decimals)
