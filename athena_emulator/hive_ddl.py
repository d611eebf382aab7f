"""A strict parser of the Hive DDL that Athena runs through its Hive engine.

Athena sends CREATE EXTERNAL TABLE, CREATE TABLE (Iceberg, without AS), CREATE
and DROP DATABASE, DROP TABLE, ALTER TABLE, MSCK, SHOW and DESCRIBE to Hive,
where identifiers are bare or in backticks and double quotes make a string,
never a name. The grammar below is the subset documented in Athena's DDL
reference; anything else fails the way Athena's Hive parser reports it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

HIVE_PRIMITIVES = {
    "tinyint",
    "smallint",
    "int",
    "integer",
    "bigint",
    "boolean",
    "float",
    "double",
    "string",
    "binary",
    "timestamp",
    "date",
}

STATEMENT_STARTS = {
    ("create", "external"),
    ("create", "database"),
    ("create", "schema"),
    ("drop", "table"),
    ("drop", "database"),
    ("drop", "schema"),
    ("alter", "table"),
    ("alter", "database"),
    ("msck", "repair"),
    ("show",),
    ("describe",),
}


class HiveSyntaxError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}:{column} {message}")
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Token:
    kind: str  # word, quoted (backticks), string, number, symbol, end
    text: str
    line: int
    column: int

    @property
    def lower(self) -> str:
        return self.text.lower()


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<symbol>[(),.<>:=;])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(sql: str) -> list[Token]:
    tokens, position, line, line_start = [], 0, 1, 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        column = position - line_start
        if not match:
            raise HiveSyntaxError(f"character '{sql[position]}' not supported here", line, column)
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "quoted":
            tokens.append(Token("quoted", text[1:-1].replace("``", "`"), line, column))
        elif kind == "string":
            body = text[1:-1]
            body = body.replace("''", "'") if text[0] == "'" else body
            tokens.append(Token("string", re.sub(r"\\(.)", r"\1", body), line, column))
        elif kind not in ("space", "comment"):
            tokens.append(Token(kind, text, line, column))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = position + text.rindex("\n") + 1
        position = match.end()
    tokens.append(Token("end", "<EOF>", line, len(sql) - line_start))
    return tokens


@dataclass(frozen=True)
class Name:
    database: str | None
    table: str


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: str
    comment: str | None = None


@dataclass
class CreateDatabase:
    name: str
    if_not_exists: bool
    comment: str | None = None
    location: str | None = None


@dataclass
class DropDatabase:
    name: str
    if_exists: bool
    cascade: bool


@dataclass
class CreateTable:
    name: Name
    external: bool
    if_not_exists: bool
    columns: list[ColumnDef]
    comment: str | None = None
    partition_columns: list[ColumnDef] = field(default_factory=list)
    partition_transforms: list[str] = field(default_factory=list)
    serde: str | None = None
    serde_properties: dict[str, str] = field(default_factory=dict)
    stored_as: str | None = None
    input_format: str | None = None
    output_format: str | None = None
    location: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class DropTable:
    name: Name
    if_exists: bool


@dataclass
class AlterTable:
    name: Name
    action: str  # rename, add_columns, replace_columns, drop_column, change_column,
    # set_properties, add_partition, drop_partition
    new_name: Name | None = None
    columns: list[ColumnDef] = field(default_factory=list)
    column: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Utility:
    """MSCK, SHOW and DESCRIBE: they read the catalog and change nothing."""

    verb: str
    name: Name | None = None
    database: str | None = None
    # SHOW TABLES' and SHOW DATABASES' pattern; DESCRIBE's column.
    pattern: str | None = None
    column: str | None = None


HiveStatement = CreateDatabase | DropDatabase | CreateTable | DropTable | AlterTable | Utility


def is_hive_ddl(sql: str) -> bool:
    """Whether Athena runs this statement through its Hive engine."""
    try:
        tokens = tokenize(sql)
    except HiveSyntaxError:
        return False
    words = [t.lower for t in tokens[:3] if t.kind == "word"]
    if not words:
        return False
    if words[0] == "create" and len(words) > 1 and words[1] == "table":
        # CREATE TABLE without AS (an empty Iceberg table) is Hive DDL; CTAS is Trino,
        # whatever comments stand between AS and its query (the tokens have none).
        return not any(
            token.lower == "as" and following.lower in ("(", "select", "with", "values", "table")
            for token, following in itertools.pairwise(tokens)
            if token.kind == "word"
        )
    if words[:2] == ["alter", "table"] and re.search(r"\bexecute\b", sql, re.IGNORECASE):
        return False
    return any(tuple(words[: len(start)]) == start for start in STATEMENT_STARTS)


class _Parser:
    def __init__(self, sql: str) -> None:
        self.tokens = tokenize(sql)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def fail(self, expected: str) -> HiveSyntaxError:
        token = self.current
        return HiveSyntaxError(
            f"cannot recognize input near '{token.text}': expecting {expected}",
            token.line,
            token.column,
        )

    def at(self, *words: str) -> bool:
        for offset, word in enumerate(words):
            token = self.tokens[min(self.index + offset, len(self.tokens) - 1)]
            if token.kind not in ("word", "symbol") or token.lower != word:
                return False
        return True

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.index += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.fail(" ".join(words).upper())

    def identifier(self) -> str:
        token = self.current
        if token.kind in {"quoted", "word"}:
            self.index += 1
            return token.text.lower()
        if token.kind == "string" and token.text:
            raise HiveSyntaxError(
                f"mismatched input '\"{token.text}\"' expecting an identifier "
                "(Hive DDL quotes names with backticks, not double quotes)",
                token.line,
                token.column,
            )
        raise self.fail("an identifier")

    def name(self) -> Name:
        first = self.identifier()
        if self.accept("."):
            return Name(first, self.identifier())
        return Name(None, first)

    def string(self) -> str:
        token = self.current
        if token.kind != "string":
            raise self.fail("a string literal")
        self.index += 1
        return token.text

    def number(self) -> str:
        token = self.current
        if token.kind != "number":
            raise self.fail("a number")
        self.index += 1
        return token.text

    def hive_type(self) -> str:
        token = self.current
        if token.kind != "word":
            raise self.fail("a type")
        word = token.lower
        self.index += 1
        if word in HIVE_PRIMITIVES:
            return word
        if word == "decimal":
            if self.accept("("):
                precision = self.number()
                scale = self.number() if self.accept(",") else "0"
                self.expect(")")
                return f"decimal({precision},{scale})"
            return "decimal"
        if word in ("varchar", "char"):
            self.expect("(")
            length = self.number()
            self.expect(")")
            return f"{word}({length})"
        if word == "array":
            self.expect("<")
            inner = self.hive_type()
            self.expect(">")
            return f"array<{inner}>"
        if word == "map":
            self.expect("<")
            key = self.hive_type()
            self.expect(",")
            value = self.hive_type()
            self.expect(">")
            return f"map<{key},{value}>"
        if word == "struct":
            self.expect("<")
            fields = []
            while True:
                field_name = self.identifier()
                self.expect(":")
                fields.append(f"{field_name}:{self.hive_type()}")
                if not self.accept(","):
                    break
            self.expect(">")
            return f"struct<{','.join(fields)}>"
        self.index -= 1
        raise HiveSyntaxError(f"unknown type '{token.text}'", token.line, token.column)

    def column_defs(self) -> list[ColumnDef]:
        self.expect("(")
        columns = []
        while True:
            name = self.identifier()
            kind = self.hive_type()
            comment = self.string() if self.accept("comment") else None
            columns.append(ColumnDef(name, kind, comment))
            if not self.accept(","):
                break
        self.expect(")")
        return columns

    def properties(self) -> dict[str, str]:
        self.expect("(")
        values: dict[str, str] = {}
        while True:
            key = self.string()
            self.expect("=")
            values[key] = self.string()
            if not self.accept(","):
                break
        self.expect(")")
        return values

    def end(self) -> None:
        self.accept(";")
        if self.current.kind != "end":
            raise self.fail("end of statement")

    def parse(self) -> HiveStatement:
        statement = self._statement()
        self.end()
        return statement

    def _statement(self) -> HiveStatement:
        if self.accept("create"):
            if self.accept("database") or self.accept("schema"):
                return self._create_database()
            external = self.accept("external")
            self.expect("table")
            return self._create_table(external)
        if self.accept("drop"):
            if self.accept("database") or self.accept("schema"):
                if_exists = self.accept("if", "exists")
                name = self.identifier()
                cascade = self.accept("cascade")
                if not cascade:
                    self.accept("restrict")
                return DropDatabase(name, if_exists, cascade)
            self.expect("table")
            if_exists = self.accept("if", "exists")
            return DropTable(self.name(), if_exists)
        if self.accept("alter", "table"):
            return self._alter_table()
        if self.accept("alter", "database"):
            name = self.identifier()
            self.expect("set", "dbproperties")
            self.properties()
            return Utility("alter_database", database=name)
        if self.accept("msck", "repair", "table"):
            return Utility("msck", name=self.name())
        if self.accept("describe"):
            if not self.accept("formatted"):
                self.accept("extended")
            statement = Utility("describe", name=self.name())
            if self.current.kind in ("word", "quoted"):
                statement.column = self.identifier()
            return statement
        if self.accept("show"):
            return self._show()
        raise self.fail("a Hive DDL statement")

    def _create_database(self) -> CreateDatabase:
        if_not_exists = self.accept("if", "not", "exists")
        statement = CreateDatabase(self.identifier(), if_not_exists)
        if self.accept("comment"):
            statement.comment = self.string()
        if self.accept("location"):
            statement.location = self.string()
        if self.accept("with", "dbproperties"):
            self.properties()
        return statement

    def _create_table(self, external: bool) -> CreateTable:
        if_not_exists = self.accept("if", "not", "exists")
        name = self.name()
        statement = CreateTable(name, external, if_not_exists, self.column_defs())
        # Clauses in the order Hive's grammar requires.
        if self.accept("comment"):
            statement.comment = self.string()
        if self.accept("partitioned", "by"):
            self._partitioning(statement)
        if self.accept("row", "format"):
            if self.accept("serde"):
                statement.serde = self.string()
                if self.accept("with", "serdeproperties"):
                    statement.serde_properties = self.properties()
            else:
                self.expect("delimited")
                while True:
                    if self.accept("fields", "terminated", "by"):
                        # Glue keeps it as the SerDe's field.delim, which the reader splits at.
                        delimiter = self.string()
                        statement.serde_properties = {
                            "field.delim": delimiter,
                            "serialization.format": delimiter,
                        }
                    elif self.accept("lines", "terminated", "by"):
                        self.string()  # LazySimpleSerDe only splits lines at \n
                    else:
                        break
                statement.serde = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
        if self.accept("stored", "as"):
            if self.accept("inputformat"):
                statement.input_format = self.string()
                self.expect("outputformat")
                statement.output_format = self.string()
            else:
                token = self.current
                if token.kind != "word":
                    raise self.fail("a file format")
                statement.stored_as = token.lower
                self.index += 1
        if self.accept("location"):
            statement.location = self.string()
        if self.accept("tblproperties"):
            statement.properties = self.properties()
        return statement

    def _partitioning(self, statement: CreateTable) -> None:
        self.expect("(")
        while True:
            token = self.current
            following = self.tokens[self.index + 1]
            if token.kind == "word" and following.text == "(":
                # An Iceberg transform: day(col), bucket(16, col), truncate(10, col).
                start = self.index
                self.index += 1  # the transform's name; its arguments follow
                depth = 0
                while True:
                    if self.current.text == "(":
                        depth += 1
                    elif self.current.text == ")":
                        depth -= 1
                    self.index += 1
                    if depth == 0:
                        break
                text = "".join(t.text for t in self.tokens[start : self.index])
                statement.partition_transforms.append(text.lower().replace(",", ", "))
            else:
                name = self.identifier()
                if self.current.kind == "word" and self.current.lower not in ("comment",):
                    kind = self.hive_type()
                    comment = self.string() if self.accept("comment") else None
                    statement.partition_columns.append(ColumnDef(name, kind, comment))
                else:
                    statement.partition_transforms.append(name)
            if not self.accept(","):
                break
        self.expect(")")

    def _alter_table(self) -> AlterTable:
        name = self.name()
        if self.accept("rename", "to"):
            return AlterTable(name, "rename", new_name=self.name())
        if self.accept("add", "columns"):
            return AlterTable(name, "add_columns", columns=self.column_defs())
        if self.accept("replace", "columns"):
            return AlterTable(name, "replace_columns", columns=self.column_defs())
        if self.accept("drop", "column"):
            return AlterTable(name, "drop_column", column=self.identifier())
        if self.accept("change"):
            self.accept("column")
            old = self.identifier()
            new = self.identifier()
            kind = self.hive_type()
            comment = self.string() if self.accept("comment") else None
            return AlterTable(
                name, "change_column", column=old, columns=[ColumnDef(new, kind, comment)]
            )
        if self.accept("set", "tblproperties"):
            return AlterTable(name, "set_properties", properties=self.properties())
        if self.accept("add"):
            self.accept("if", "not", "exists")
            while self.accept("partition"):
                self.properties_unquoted()
                if self.accept("location"):
                    self.string()
            return AlterTable(name, "add_partition")
        if self.accept("drop"):
            self.accept("if", "exists")
            while self.accept("partition"):
                self.properties_unquoted()
                if not self.accept(","):
                    break
            return AlterTable(name, "drop_partition")
        raise self.fail("RENAME TO, ADD COLUMNS, REPLACE COLUMNS, CHANGE, SET TBLPROPERTIES")

    def properties_unquoted(self) -> None:
        self.expect("(")
        while True:
            self.identifier()
            self.expect("=")
            if self.current.kind in ("string", "number"):
                self.index += 1
            else:
                raise self.fail("a partition value")
            if not self.accept(","):
                break
        self.expect(")")

    def _show(self) -> Utility:
        if self.accept("databases") or self.accept("schemas"):
            pattern = None
            if self.current.kind == "string" or self.accept("like"):
                pattern = self.string()
            return Utility("show_databases", pattern=pattern)
        if self.accept("tables"):
            database = self.identifier() if self.accept("in") else None
            pattern = self.string() if self.current.kind == "string" else None
            return Utility("show_tables", database=database, pattern=pattern)
        if self.accept("columns"):
            if not self.accept("in"):
                self.expect("from")
            name = self.name()
            # show-columns.html: SHOW COLUMNS {FROM|IN} table [{FROM|IN} database]
            if name.database is None and (self.accept("in") or self.accept("from")):
                name = Name(self.identifier(), name.table)
            return Utility("show_columns", name=name)
        if self.accept("tblproperties"):
            return Utility("show_tblproperties", name=self.name())
        if self.accept("partitions"):
            return Utility("show_partitions", name=self.name())
        if self.accept("create", "table"):
            return Utility("show_create_table", name=self.name())
        raise self.fail("DATABASES, TABLES, COLUMNS, TBLPROPERTIES, PARTITIONS")


def parse_hive_ddl(sql: str) -> HiveStatement:
    return _Parser(sql).parse()
