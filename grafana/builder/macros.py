"""The macros of grafana-athena-datasource, expanded as the datasource expands them.

A port of the plugin's pkg/athena/macros.go and of the interpolation it runs
through (grafana-plugin-sdk-go's sqlutil.Interpolate): each `$__name` is found
by a word-bounded match, its arguments are the text between the next opening
parenthesis and the one that closes it, split on commas and trimmed, and every
occurrence of that text is replaced by the macro's result. The datasource's
own macros win over sqlutil's defaults ($__table and $__column come from
those). Grafana hands the datasource the dashboard's time range in UTC.

Expanding for a fixed range is what lets the checks run a panel's SQL on
DuckDB and through the Athena grammar: the SQL sent to Athena is the expansion,
never the text with macros.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

_TIMESTAMP_FORMAT = "'yyyy-MM-dd HH:mm:ss'"  # the one format parseTime turns into a literal cast
_INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d|w)?$")
_INTERVAL_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


class MacroError(ValueError):
    """A macro with the wrong arguments: the datasource fails such a query."""


@dataclass(frozen=True)
class TimeRange:
    """A dashboard time range; both ends timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a time range needs timezone-aware datetimes")
        if self.start > self.end:
            raise ValueError(f"time range starts after it ends: {self.start} > {self.end}")

    @property
    def utc_start(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def utc_end(self) -> datetime:
        return self.end.astimezone(UTC)


@dataclass(frozen=True)
class QueryContext:
    """What a macro sees of the query: its time range, and the editor's table and column."""

    time_range: TimeRange
    table: str = ""
    column: str = ""


Macro = Callable[[QueryContext, list[str]], str]


def _go_float(value: float) -> str:
    """A float as Go's %v prints it: shortest digits, exponent form below 1e-04 and from 1e+06."""
    digits = Decimal(repr(float(value))).normalize()
    sign, mantissa, exponent = digits.as_tuple()
    assert isinstance(exponent, int)
    position = len(mantissa) + exponent - 1  # decimal exponent of the leading digit
    text = "".join(map(str, mantissa))
    if position < -4 or position >= 6:
        head = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{head}e{'+' if position >= 0 else '-'}{abs(position):02d}"
    return f"{'-' if sign else ''}{digits:f}"


def _interval_seconds(text: str) -> float:
    """gtime.ParseInterval for the units that do not depend on the calendar."""
    match = _INTERVAL.match(text.strip("'"))
    if not match:
        raise MacroError(f"error parsing interval {text}")
    return int(match.group(1)) * _INTERVAL_SECONDS[match.group(2)]


def _parse_time(target: str, time_format: str) -> str:
    if time_format == "":
        return target
    if time_format == _TIMESTAMP_FORMAT:
        return f"TIMESTAMP {target}"
    return f"parse_datetime({target},{time_format})"


def _time_group_parts(args: list[str], name: str) -> tuple[float, str]:
    if len(args) < 2:
        raise MacroError(f"macro {name} needs time column and interval")
    seconds = _interval_seconds(args[1])
    column = _parse_time(args[0], args[2]) if len(args) == 3 else args[0]
    return seconds, column


def _time_group(_: QueryContext, args: list[str]) -> str:
    seconds, column = _time_group_parts(args, "$__timeGroup")
    step = _go_float(seconds)
    return f"FROM_UNIXTIME(FLOOR(TO_UNIXTIME({column})/{step})*{step})"


def _unix_epoch_group(_: QueryContext, args: list[str]) -> str:
    seconds, column = _time_group_parts(args, "$__unixEpochGroup")
    step = _go_float(seconds)
    return f"FROM_UNIXTIME(FLOOR({column}/{step})*{step})"


def _parse_time_macro(_: QueryContext, args: list[str]) -> str:
    if len(args) < 1:
        raise MacroError("expected at least one argument")
    return _parse_time(args[0], args[1] if len(args) == 2 else _TIMESTAMP_FORMAT)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _time_filter(context: QueryContext, args: list[str]) -> str:
    if len(args) < 1:
        raise MacroError("expected at least one argument")
    column = _parse_time(args[0], args[1] if len(args) > 1 else "")
    time_range = context.time_range
    start, end = _stamp(time_range.utc_start), _stamp(time_range.utc_end)
    return f"{column} BETWEEN TIMESTAMP '{start}' AND TIMESTAMP '{end}'"


def _unix_epoch_filter(context: QueryContext, args: list[str]) -> str:
    if len(args) != 1:
        raise MacroError("expected one argument")
    start = int(context.time_range.utc_start.timestamp())
    end = int(context.time_range.utc_end.timestamp())
    return f"{args[0]} BETWEEN {start} AND {end}"


def _time_from(context: QueryContext, _: list[str]) -> str:
    return f"TIMESTAMP '{_stamp(context.time_range.utc_start)}'"


def _time_to(context: QueryContext, _: list[str]) -> str:
    return f"TIMESTAMP '{_stamp(context.time_range.utc_end)}'"


def _date_filter(context: QueryContext, args: list[str]) -> str:
    if len(args) != 1:
        raise MacroError(f"expected 1 argument, received {len(args)}")
    start = context.time_range.utc_start.strftime("%Y-%m-%d")
    end = context.time_range.utc_end.strftime("%Y-%m-%d")
    return f"{args[0]} BETWEEN date '{start}' AND date '{end}'"


def _table(context: QueryContext, _: list[str]) -> str:
    return context.table


def _column(context: QueryContext, _: list[str]) -> str:
    return context.column


# The datasource's macros, then sqlutil's defaults that it does not replace.
MACROS: dict[str, Macro] = {
    "dateFilter": _date_filter,
    "parseTime": _parse_time_macro,
    "unixEpochFilter": _unix_epoch_filter,
    "timeFilter": _time_filter,
    "timeFrom": _time_from,
    "timeGroup": _time_group,
    "unixEpochGroup": _unix_epoch_group,
    "timeTo": _time_to,
    "table": _table,
    "column": _column,
}

_ANY_MACRO = re.compile(r"\$__([A-Za-z]+)\b")


def _matches(sql: str, name: str) -> list[tuple[str, str]]:
    """(whole macro text, argument text) of each occurrence, as sqlutil finds them.

    Like sqlutil, the arguments start at the first `(` after the name wherever it
    is, and a `)` met before any `(` means the macro has no arguments.
    """
    found = []
    for match in re.finditer(rf"\$__{name}\b", sql):
        rest = sql[match.start() :]
        depth, arg_start, end = 0, 0, 0
        for index, char in enumerate(rest):
            if depth == 0 and end > 0:
                break
            if char == "(":
                depth += 1
                arg_start = arg_start or index + 1
            elif char == ")":
                if depth == 0:
                    end = 0
                    break
                depth -= 1
                end = index + 1
        if end == 0:
            end = match.end() - match.start()
        text = rest[:end]
        found.append((text, rest[arg_start : end - 1] if arg_start else ""))
    return found


def expand(sql: str, context: QueryContext) -> str:
    """The SQL the datasource sends to Athena for this query context."""
    for name, macro in MACROS.items():
        for text, arguments in _matches(sql, name):
            result = macro(context, [part.strip() for part in arguments.split(",")])
            sql = sql.replace(text, result)
    return sql


def expand_for(sql: str, time_range: TimeRange) -> str:
    return expand(sql, QueryContext(time_range))


def macro_names(sql: str) -> set[str]:
    """The `$__` macros a query uses (unknown ones included, which Grafana leaves as they are)."""
    return set(_ANY_MACRO.findall(sql))


_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdwMy]))?(?:/([smhdw]))?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def resolve(expression: str, now: datetime, *, is_end: bool) -> datetime:
    """A dashboard time (`now`, `now-7d`, `now-1d/d`, or an ISO time) as a UTC datetime.

    Months and years are not supported: the dashboards here do not use them.
    """
    match = _RELATIVE.match(expression)
    if not match:
        moment = datetime.fromisoformat(expression)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    amount, unit, rounding = match.groups()
    if unit in ("M", "y"):
        raise ValueError(f"calendar units are not supported in {expression!r}")
    moment = now.astimezone(UTC)
    if amount:
        moment -= timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
    if rounding:
        moment = _round(moment, rounding, is_end)
    return moment


def _round(moment: datetime, unit: str, is_end: bool) -> datetime:
    if unit == "w":
        start = (moment - timedelta(days=moment.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        span = timedelta(weeks=1)
    else:
        seconds = _UNIT_SECONDS[unit]
        epoch = moment.timestamp()
        start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
        span = timedelta(seconds=seconds)
    return start + span - timedelta(milliseconds=1) if is_end else start


def dashboard_range(start: str, end: str, now: datetime) -> TimeRange:
    return TimeRange(resolve(start, now, is_end=False), resolve(end, now, is_end=True))
