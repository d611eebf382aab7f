"""Relations Trino's grammar has and the tools after it (sqlglot's resolution,
DuckDB) do not: each rewritten, once the statement has parsed, into the
relation Trino's documentation says it is.

- `( relation )`: a parenthesized relation is the relation (SqlBase.g4,
  relationPrimary), as dbt-athena's force-batch merge writes `from (t)`;
- `VALUES (...), (...)` as a query (the statement, or the query of an INSERT
  or a CTAS): a relation whose columns are _col0, _col1, ... (sql/values.md);
- `TABLE(sequence(start => a, stop => b, step => c))`: the built-in table
  function's one column `sequential_number bigint`, `start` 0 and `step` 1 by
  default, `stop` inclusive (functions/table.md).
"""

from __future__ import annotations

from sqlglot import exp

SEQUENCE_PARAMETERS = ("start", "stop", "step")
SEQUENCE_DEFAULTS = {"start": exp.Literal.number(0), "step": exp.Literal.number(1)}


def rewrite(tree: exp.Expression) -> exp.Expression:
    """A parsed statement with these relations replaced by what they mean."""
    tree = tree.transform(_relation, copy=False)
    if isinstance(tree, exp.Values):
        return values_query(tree)
    if isinstance(tree, exp.Insert | exp.Create) and isinstance(tree.expression, exp.Values):
        tree.set("expression", values_query(tree.expression))
    return tree


def _relation(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Table):
        return _aliased(node.this.copy(), node)
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
        sequence = _sequence_arguments(node.this)
        if sequence is not None:
            return _aliased(_sequence_query(sequence), node)
    return node


def _aliased(relation: exp.Expression, original: exp.Expression) -> exp.Expression:
    if original.args.get("alias") is not None:
        relation.set("alias", original.args["alias"].copy())
    return relation


def _sequence_arguments(call: exp.Anonymous) -> dict[str, exp.Expression] | None:
    """The arguments of `TABLE(sequence(...))`, by name; None for another table function."""
    if call.name.upper() != "TABLE" or len(call.expressions) != 1:
        return None
    function = call.expressions[0]
    while isinstance(function, exp.Dot):  # system.builtin.sequence(...)
        function = function.expression
    if isinstance(function, exp.GenerateSeries):
        given = [function.args.get(key) for key in ("start", "end", "step")]
    elif isinstance(function, exp.Anonymous) and function.name.lower() == "sequence":
        given = list(function.expressions)
    else:
        return None
    arguments: dict[str, exp.Expression] = {}
    for position, argument in enumerate(a for a in given if a is not None):
        if isinstance(argument, exp.Kwarg):
            arguments[argument.this.name.lower()] = argument.expression
        elif position < len(SEQUENCE_PARAMETERS):
            arguments[SEQUENCE_PARAMETERS[position]] = argument
    if "stop" not in arguments:
        return None
    return {**SEQUENCE_DEFAULTS, **arguments}


def _sequence_query(arguments: dict[str, exp.Expression]) -> exp.Subquery:
    bigint = {name: exp.cast(arguments[name].copy(), "bigint") for name in SEQUENCE_PARAMETERS}
    # Trino's scalar sequence(start, stop, step), whose array the relation unnests.
    numbers = exp.GenerateSeries(start=bigint["start"], end=bigint["stop"], step=bigint["step"])
    unnested = exp.Unnest(
        expressions=[numbers],
        alias=exp.TableAlias(
            this=exp.to_identifier("_sequence"),
            columns=[exp.to_identifier("sequential_number")],
        ),
    )
    return exp.select("sequential_number").from_(unnested).subquery()


def values_query(values: exp.Values) -> exp.Select:
    """`VALUES (...), (...)` as the query Trino makes of it."""
    first = values.expressions[0]
    width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
    relation = exp.Values(
        expressions=[e.copy() for e in values.expressions],
        alias=exp.TableAlias(
            this=exp.to_identifier("_values"),
            columns=[exp.to_identifier(f"_col{i}") for i in range(width)],
        ),
    )
    return exp.select("*").from_(relation)
