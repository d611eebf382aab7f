"""Athena's two type vocabularies: Trino types in queries, Hive types in Glue.

Queries see Trino types (varchar, integer, timestamp(3)); Glue stores Hive types
(string, int, timestamp). A Hive table's timestamp reads as timestamp(3), an
Iceberg table's as timestamp(6). Inference of a query's column types runs on
sqlglot's annotate_types, with the Trino functions this project uses added.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp
from sqlglot.dialects.trino import Trino

DType = exp.DataType.Type

# Trino's default precision where a query writes a bare `timestamp`.
DEFAULT_TIMESTAMP_PRECISION = 3
ICEBERG_TIMESTAMP_PRECISION = 6

_HIVE_TO_TRINO = {
    "string": "varchar",
    "int": "integer",
    "integer": "integer",
    "float": "real",
    "binary": "varbinary",
    "tinyint": "tinyint",
    "smallint": "smallint",
    "bigint": "bigint",
    "double": "double",
    "boolean": "boolean",
    "date": "date",
}


class UnsupportedType(ValueError):
    """A type that a Hive or Iceberg table cannot store."""


def trino_type_from_glue(glue_type: str, *, iceberg: bool) -> str:
    """The Trino type a query sees for a Glue column type."""
    text = glue_type.strip().lower()
    if text == "timestamp":
        precision = ICEBERG_TIMESTAMP_PRECISION if iceberg else DEFAULT_TIMESTAMP_PRECISION
        return f"timestamp({precision})"
    if text in _HIVE_TO_TRINO:
        return _HIVE_TO_TRINO[text]
    if text.startswith(("decimal", "varchar", "char")):
        return text.replace(" ", "")
    if text.startswith("array<") and text.endswith(">"):
        return f"array({trino_type_from_glue(text[6:-1], iceberg=iceberg)})"
    if text.startswith("map<") and text.endswith(">"):
        key, value = _split_top_level(text[4:-1])
        return (
            f"map({trino_type_from_glue(key, iceberg=iceberg)}, "
            f"{trino_type_from_glue(value, iceberg=iceberg)})"
        )
    if text.startswith("struct<") and text.endswith(">"):
        fields = []
        for field in _split_top_level(text[7:-1]):
            name, _, kind = field.partition(":")
            fields.append(f"{name.strip()} {trino_type_from_glue(kind, iceberg=iceberg)}")
        return f"row({', '.join(fields)})"
    return text


def glue_type_from_trino(trino_type: str, *, iceberg: bool) -> str:
    """The Glue (Hive) type Athena records for a column of a CTAS result."""
    text = trino_type.strip().lower()
    if "with time zone" in text:
        table = "Iceberg" if iceberg else "Hive"
        raise UnsupportedType(f"Unsupported {table} type: {text}")
    match = re.fullmatch(r"timestamp(?:\((\d+)\))?", text)
    if match:
        precision = int(match.group(1) or DEFAULT_TIMESTAMP_PRECISION)
        if iceberg and precision != ICEBERG_TIMESTAMP_PRECISION:
            raise UnsupportedType(
                f"Timestamp precision ({precision}) not supported for Iceberg. "
                f'Use "timestamp(6)" instead.'
            )
        return "timestamp"
    simple = {
        "varchar": "string",
        "integer": "int",
        "real": "float",
        "varbinary": "binary",
        "tinyint": "tinyint",
        "smallint": "smallint",
        "bigint": "bigint",
        "double": "double",
        "boolean": "boolean",
        "date": "date",
    }
    if text in simple:
        return simple[text]
    if text.startswith("varchar("):
        return "string" if iceberg else text
    if text.startswith("decimal("):
        return text.replace(" ", "")
    if text.startswith("array(") and text.endswith(")"):
        return f"array<{glue_type_from_trino(text[6:-1], iceberg=iceberg)}>"
    if text.startswith("map(") and text.endswith(")"):
        key, value = _split_top_level(text[4:-1])
        return (
            f"map<{glue_type_from_trino(key, iceberg=iceberg)},"
            f"{glue_type_from_trino(value, iceberg=iceberg)}>"
        )
    if text.startswith("row(") and text.endswith(")"):
        fields = []
        for field in _split_top_level(text[4:-1]):
            name, _, kind = field.strip().partition(" ")
            fields.append(f"{name}:{glue_type_from_trino(kind, iceberg=iceberg)}")
        return f"struct<{','.join(fields)}>"
    raise UnsupportedType(f"Unsupported {'Iceberg' if iceberg else 'Hive'} type: {text}")


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def trino_type_name(data_type: exp.DataType | None) -> str:
    """A sqlglot type as the lowercase Trino type Athena reports."""
    if data_type is None or data_type.this in (DType.UNKNOWN, DType.NULL):
        return "unknown"
    kind = data_type.this
    params = [p.sql("trino") for p in data_type.expressions]
    if kind in (DType.TIMESTAMP, DType.DATETIME, DType.TIMESTAMPNTZ):
        return f"timestamp({params[0] if params else DEFAULT_TIMESTAMP_PRECISION})"
    if kind in (DType.TIMESTAMPTZ, DType.TIMESTAMPLTZ):
        precision = params[0] if params else DEFAULT_TIMESTAMP_PRECISION
        return f"timestamp({precision}) with time zone"
    if kind in (DType.DECIMAL, DType.BIGDECIMAL):
        if len(params) == 2:
            return f"decimal({params[0]},{params[1]})"
        if len(params) == 1:
            return f"decimal({params[0]},0)"
        # An expression of decimals whose precision sqlglot does not follow.
        return "decimal(38,6)"
    if kind == DType.VARCHAR and params:
        return f"varchar({params[0]})"
    if kind in (DType.VARCHAR, DType.TEXT, DType.NVARCHAR, DType.CHAR) and not params:
        return "varchar"
    if kind == DType.INTERVAL:
        return "interval day to second"
    if kind == DType.ARRAY and data_type.expressions:
        return f"array({trino_type_name(data_type.expressions[0])})"
    text = data_type.sql("trino").lower()
    return {"int": "integer", "float": "real"}.get(text, text)


def _returns(kind: str) -> dict[str, Any]:
    return {"returns": exp.DataType.build(kind, dialect="trino")}


def _same_as_argument(argument: str = "this"):
    def annotate(self: Any, expression: exp.Expression) -> exp.Expression:
        self._set_type(expression, expression.args[argument].type)
        return expression

    return annotate


def _sum_type(self: Any, expression: exp.Expression) -> exp.Expression:
    """Trino's sum: bigint over integers, decimal(38, s) over decimals, double otherwise."""
    argument = expression.this.type
    if argument is not None and argument.this in exp.DataType.INTEGER_TYPES:
        self._set_type(expression, exp.DataType.build("bigint"))
    elif argument is not None and argument.this == DType.DECIMAL:
        scale = argument.expressions[1].sql() if len(argument.expressions) == 2 else "0"
        self._set_type(expression, exp.DataType.build(f"decimal(38, {scale})"))
    elif argument is not None and argument.this == DType.UNKNOWN:
        self._set_type(expression, argument)
    else:
        self._set_type(expression, exp.DataType.build("double"))
    return expression


# Return types of the Trino functions that sqlglot leaves unknown, by name.
_ANONYMOUS_RETURNS = {
    "from_iso8601_timestamp": "timestamp(3) with time zone",
    "from_iso8601_date": "date",
    "to_iso8601": "varchar",
    "to_milliseconds": "bigint",
    "json_format": "varchar",
    "json_extract": "json",
    "json_parse": "json",
    "regexp_extract": "varchar",
    "regexp_replace": "varchar",
    "split_part": "varchar",
    "to_utf8": "varbinary",
    "from_utf8": "varchar",
    "md5": "varbinary",
    "to_hex": "varchar",
    "element_at": "unknown",
    "now": "timestamp(3) with time zone",
    "current_timezone": "varchar",
    "day_of_week": "bigint",
    "to_unixtime": "double",
    "from_unixtime": "timestamp(3) with time zone",
}


def _anonymous(self: Any, expression: exp.Expression) -> exp.Expression:
    name = expression.name.lower()
    kind = _ANONYMOUS_RETURNS.get(name)
    if kind is None or kind == "unknown":
        self._set_type(expression, exp.DataType.build("unknown"))
    else:
        self._set_type(expression, exp.DataType.build(kind, dialect="trino"))
    return expression


def _at_time_zone(self: Any, expression: exp.Expression) -> exp.Expression:
    """`x at time zone 'UTC'` keeps x's precision and always carries a zone."""
    argument = expression.this.type
    precision = (
        argument.expressions[0].sql()
        if argument is not None and argument.expressions
        else str(DEFAULT_TIMESTAMP_PRECISION)
    )
    self._set_type(expression, exp.DataType.build(f"timestamp({precision}) with time zone"))
    return expression


TEMPORAL = {DType.DATE, DType.TIMESTAMP, DType.TIMESTAMPTZ, DType.DATETIME, DType.TIMESTAMPNTZ}


def _difference(self: Any, expression: exp.Expression) -> exp.Expression:
    """`a - b`: of two dates or timestamps, an interval day to second (Trino's
    DateTimeOperators subtract, what to_milliseconds(interval) takes); of
    numbers, sqlglot's numeric rules."""
    left, right = expression.this.type, expression.expression.type
    if left is not None and right is not None and {left.this, right.this} <= TEMPORAL:
        self._set_type(expression, exp.DataType(this=DType.INTERVAL))
        return expression
    return self._annotate_binary(expression)


def _concatenation(self: Any, expression: exp.Expression) -> exp.Expression:
    """array.md: `||` and concat() join arrays, or an array and an element of its
    type, into an array; string.md: otherwise they join strings into a varchar."""
    operands = (
        [expression.this, expression.expression]
        if isinstance(expression, exp.DPipe)
        else expression.expressions
    )
    arrays = [o.type for o in operands if o.type is not None and o.type.this == DType.ARRAY]
    self._set_type(expression, arrays[0] if arrays else exp.DataType.build("varchar"))
    return expression


EXPRESSION_METADATA = {
    **Trino.EXPRESSION_METADATA,
    exp.JSONExtractScalar: _returns("varchar"),
    exp.Pad: _returns("varchar"),
    exp.Hex: _returns("varchar"),
    exp.MD5Digest: _returns("varbinary"),
    exp.FromISO8601Timestamp: _returns("timestamp(3) with time zone"),
    exp.CurrentTimestamp: _returns("timestamp(3) with time zone"),
    exp.TimestampTrunc: {"annotator": _same_as_argument("this")},
    exp.DateTrunc: {"annotator": _same_as_argument("this")},
    exp.DateAdd: {"annotator": _same_as_argument("this")},
    exp.AtTimeZone: {"annotator": _at_time_zone},
    # conditional.md: try(expression) is the expression's value, or NULL where it fails.
    exp.Try: {"annotator": _same_as_argument("this")},
    exp.DPipe: {"annotator": _concatenation},
    exp.Sub: {"annotator": _difference},
    # datetime.md: the fields of a date or timestamp (year(x), doy(x), hour(x), ...)
    # are bigints, and so is extract(field FROM x).
    **{
        field: _returns("bigint")
        for field in (
            exp.Year,
            exp.Quarter,
            exp.Month,
            exp.WeekOfYear,
            exp.Day,
            exp.DayOfMonth,
            exp.DayOfWeek,
            exp.DayOfWeekIso,
            exp.DayOfYear,
            exp.YearOfWeek,
            exp.Hour,
            exp.Minute,
            exp.Second,
            exp.Extract,
        )
    },
    exp.Concat: {"annotator": _concatenation},
    exp.Sum: {"annotator": _sum_type},
    exp.Anonymous: {"annotator": _anonymous},
}


def with_default_precision(tree: exp.Expression) -> exp.Expression:
    """Spell out Trino's default timestamp precision wherever a query leaves it off."""
    for data_type in tree.find_all(exp.DataType):
        if data_type.this in (DType.TIMESTAMP, DType.TIMESTAMPTZ) and not data_type.expressions:
            data_type.set(
                "expressions",
                [exp.DataTypeParam(this=exp.Literal.number(DEFAULT_TIMESTAMP_PRECISION))],
            )
    return tree
