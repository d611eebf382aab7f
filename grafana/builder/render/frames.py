"""A query result as Grafana's panels see it: fields with their settings resolved.

Grafana applies a panel's fieldConfig defaults, then every override whose
matcher selects the field (by name, by regular expression), later ones
winning. A time series result in long form (time, a string column, values) is
pivoted wide, one field per string value, carrying that value as a label;
display names may refer to it as ${__field.labels.<name>}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

from grafana.builder.fields import FieldKind
from grafana.builder.render.formatting import NAMED, PALETTE


@dataclass
class Field:
    name: str
    kind: FieldKind | None
    values: list[Any]
    labels: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        template = self.config.get("displayName")
        if not template:
            label = " ".join(self.labels.values())
            return f"{self.name} {label}".strip() if label else self.name
        return re.sub(
            r"\$\{__field\.labels\.(\w+)\}", lambda m: self.labels.get(m.group(1), ""), template
        )

    @property
    def unit(self) -> str | None:
        return self.config.get("unit")

    @property
    def decimals(self) -> int | None:
        return self.config.get("decimals")

    def last(self) -> Any:
        for value in reversed(self.values):
            if value is not None:
                return value
        return None

    def colour_for(self, value: Any, index: int) -> str:
        """The field's colour for a value: fixed, by thresholds, by value mapping, or palette."""
        for mapping in self.config.get("mappings", []):
            result = mapping.get("options", {}).get(str(value))
            if result and result.get("color"):
                return NAMED.get(result["color"], result["color"])
        color = self.config.get("color", {})
        mode = color.get("mode")
        if mode == "fixed":
            return NAMED.get(color.get("fixedColor", ""), color.get("fixedColor") or PALETTE[0])
        if mode == "thresholds" and isinstance(value, int | float):
            return threshold_colour(self.config.get("thresholds"), float(value))
        return PALETTE[index % len(PALETTE)]


def threshold_colour(thresholds: dict[str, Any] | None, value: float) -> str:
    steps = (thresholds or {}).get("steps") or [{"color": "green", "value": None}]
    chosen = steps[0]["color"]
    for step in steps[1:]:
        if step.get("value") is not None and value >= step["value"]:
            chosen = step["color"]
    return NAMED.get(chosen, chosen)


def _matches(matcher: dict[str, Any], name: str) -> bool:
    if matcher.get("id") == "byName":
        return matcher.get("options") == name
    if matcher.get("id") == "byRegexp":
        return re.fullmatch(str(matcher.get("options")), name) is not None
    return False


def resolve_config(panel: dict[str, Any], name: str) -> dict[str, Any]:
    field_config = panel.get("fieldConfig", {})
    config: dict[str, Any] = {
        key: value for key, value in field_config.get("defaults", {}).items() if key != "custom"
    }
    custom = dict(field_config.get("defaults", {}).get("custom", {}) or {})
    for override in field_config.get("overrides", []):
        if not _matches(override.get("matcher", {}), name):
            continue
        for prop in override.get("properties", []):
            key = prop["id"]
            if key.startswith("custom."):
                custom[key.removeprefix("custom.")] = prop["value"]
            else:
                config[key] = prop["value"]
    config["custom"] = custom
    return config


def frame(panel: dict[str, Any], table: pa.Table, kinds: list[FieldKind | None]) -> list[Field]:
    """The result's fields with settings; time series in long form pivoted wide."""
    columns = [
        Field(name, kind, [_plain(v) for v in table.column(name).to_pylist()])
        for name, kind in zip(table.column_names, kinds, strict=True)
    ]
    time_series = panel["targets"][0].get("format") == 0
    if time_series and any(c.kind == "string" for c in columns):
        columns = _long_to_wide(columns)
    for column in columns:
        column.config = resolve_config(panel, column.name)
    return columns


def _plain(value: Any) -> Any:
    """Decimals (DuckDB's sums of decimal columns) as floats, as Grafana's frames hold them."""
    return float(value) if isinstance(value, Decimal) else value


def _long_to_wide(columns: list[Field]) -> list[Field]:
    time_field = next(c for c in columns if c.kind == "time")
    keys = [c for c in columns if c.kind == "string"]
    numbers = [c for c in columns if c.kind == "number"]
    times = sorted(set(time_field.values))
    position = {moment: index for index, moment in enumerate(times)}
    wide: dict[tuple[str, tuple[str, ...]], Field] = {}
    for row in range(len(time_field.values)):
        label_values = tuple(str(key.values[row]) for key in keys)
        for number in numbers:
            series = wide.get((number.name, label_values))
            if series is None:
                labels = {key.name: value for key, value in zip(keys, label_values, strict=True)}
                series = Field(number.name, "number", [None] * len(times), labels)
                wide[(number.name, label_values)] = series
            series.values[position[time_field.values[row]]] = number.values[row]
    return [Field(time_field.name, "time", times), *wide.values()]
