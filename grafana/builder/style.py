"""Field settings the dashboards share: units, names, thresholds and colours by value."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

CURRENCY = "currencyUSD"
PERCENT = "percentunit"
MINUTES = "m"
COUNT = "short"

# A rising number is good, a falling one bad: red below zero, green from zero.
CHANGE_THRESHOLDS = (
    sdk.ThresholdsConfig()
    .mode(model.ThresholdsMode.ABSOLUTE)
    .steps([model.Threshold(value=None, color="red"), model.Threshold(value=0, color="green")])
)


def thresholds(*steps: tuple[float | None, str]) -> sdk.ThresholdsConfig:
    """Absolute thresholds, the first step's value None (everything below the next)."""
    return (
        sdk.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def properties(
    *,
    display_name: str | None = None,
    unit: str | None = None,
    decimals: int | None = None,
    threshold_steps: tuple[tuple[float | None, str], ...] | None = None,
    fixed_color: str | None = None,
    custom: dict[str, object] | None = None,
) -> list[model.DynamicConfigValue]:
    """The override properties of one field, in Grafana's property ids."""
    found: list[model.DynamicConfigValue] = []
    if display_name is not None:
        found.append(model.DynamicConfigValue("displayName", display_name))
    if unit is not None:
        found.append(model.DynamicConfigValue("unit", unit))
    if decimals is not None:
        found.append(model.DynamicConfigValue("decimals", decimals))
    if threshold_steps is not None:
        found.append(model.DynamicConfigValue("thresholds", thresholds(*threshold_steps).build()))
        found.append(
            model.DynamicConfigValue("color", model.FieldColor(model.FieldColorModeId.THRESHOLDS))
        )
    if fixed_color is not None:
        found.append(
            model.DynamicConfigValue(
                "color", model.FieldColor(model.FieldColorModeId.FIXED, fixed_color=fixed_color)
            )
        )
    for key, value in (custom or {}).items():
        found.append(model.DynamicConfigValue(f"custom.{key}", value))
    return found


def value_colors(colors: dict[str, str]) -> model.DynamicConfigValue:
    """Colour a field by its text value (Grafana value mappings)."""
    options = {
        text: model.ValueMappingResult(color=color, index=index)
        for index, (text, color) in enumerate(colors.items())
    }
    return model.DynamicConfigValue("mappings", [model.ValueMap(options=options)])


def coloured_cells() -> model.DynamicConfigValue:
    """A table column whose cell background takes the field's colour."""
    return model.DynamicConfigValue(
        "custom.cellOptions",
        common.TableColoredBackgroundCellOptions(mode=common.TableCellBackgroundDisplayMode.BASIC),
    )


def gauge_cells() -> model.DynamicConfigValue:
    """A table column drawn as a bar in each cell."""
    return model.DynamicConfigValue(
        "custom.cellOptions",
        common.TableBarGaugeCellOptions(mode=common.BarGaugeDisplayMode.BASIC),
    )


def last_value(fields: str = "", all_rows: bool = False) -> common_builders.ReduceDataOptions:
    """Show the last value of each field, or with all_rows one value per row."""
    return (
        common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields(fields).values(all_rows)
    )


def fixed(color: str) -> sdk.FieldColor:
    return sdk.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color(color)


def by_thresholds() -> sdk.FieldColor:
    return sdk.FieldColor().mode(model.FieldColorModeId.THRESHOLDS)


def legend_below() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .show_legend(True)
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
    )


def named_values_stat(title: str, description: str | None = None) -> stat.Panel:
    """A stat panel of several values side by side, each with its name, no sparkline."""
    panel = stat.Panel().title(title)
    if description:
        panel = panel.description(description)
    return (
        panel.reduce_options(last_value())
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .graph_mode(common.BigValueGraphMode.NONE)
    )
