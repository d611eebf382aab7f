"""The application file (ingestion/application.py) and the dbt files that follow from it.

The file is checked with one line per problem, naming the file, line and field;
its JSON Schema (docs/streamlake.schema.json) is generated from the same model
and holds for every example the docs give; `streamlake sources apply` writes
the generated files, keeps the ones a user edited, and `sources check` reports
drift, one line each, exit 1.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from flows.source_files import APPLICATION_MACRO, SILVER, apply, drift, generate
from ingestion.application import (
    PROJECT_ROOT,
    ApplicationError,
    json_schema,
    load_application,
    parse_application,
)
from tests.test_cli import streamlake

SCHEMA_FILE = PROJECT_ROOT / "docs" / "streamlake.schema.json"
APPLICATION_FILES = [
    PROJECT_ROOT / "streamlake.yml",
    *sorted(PROJECT_ROOT.glob("examples/*/streamlake.yml")),
]
DOCS = [
    PROJECT_ROOT / "docs" / "applications.md",
    PROJECT_ROOT / "docs" / "bring-your-own-application.md",
]


def doc_examples() -> list[tuple[str, str]]:
    """Every YAML block of the docs that is a whole application file (starts with version)."""
    found = []
    for path in DOCS:
        for number, block in enumerate(re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S)):
            if block.lstrip().startswith("version:"):
                found.append((f"{path.name}#{number}", block))
    return found


def test_the_committed_json_schema_is_the_models() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "docs/streamlake.schema.json is out of date: regenerate it from ingestion.application"
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [(p.relative_to(PROJECT_ROOT).as_posix(), p.read_text()) for p in APPLICATION_FILES]
    + doc_examples(),
    ids=lambda value: value if "\n" not in value else "",
)
def test_every_example_holds_for_the_schema_and_the_checks(name: str, text: str) -> None:
    jsonschema.validate(yaml.safe_load(text), json.loads(SCHEMA_FILE.read_text()))
    parse_application(text, PROJECT_ROOT / name.split("#", maxsplit=1)[0])


def test_the_docs_give_examples_of_each_shape() -> None:
    shapes = [parse_application(text, PROJECT_ROOT / "x.yml") for _, text in doc_examples()]
    assert any(len(t.entities) > 1 for app in shapes for t in app.dynamodb_tables)
    assert any(app.kinesis_streams for app in shapes)


def test_the_schema_rejects_what_the_checks_reject() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"version": 1, "name": "x", "dynamodb_tables": [{"source": "x"}]}, schema
        )


SHOP = (PROJECT_ROOT / "streamlake.yml").read_text()

PLANTED = {
    "an unknown key": (
        SHOP.replace("    partition_key: order_id", "    partiton_key: order_id"),
        r"streamlake\.yml:\d+: dynamodb_tables\[2\]\.partiton_key: unknown key",
    ),
    "a missing key attribute": (
        SHOP.replace("    partition_key: order_id\n", ""),
        r"streamlake\.yml:\d+: dynamodb_tables\[2\]\.partition_key: missing",
    ),
    "two entities with one name": (
        SHOP.replace("      - name: products\n", "      - name: customers\n"),
        r"streamlake\.yml:\d+: dynamodb_tables\[1\]\.entities\[0\]\.name: two entities named "
        r"'customers'",
    ),
    "a key that misses the sort key": (
        SHOP.replace(
            "    partition_key: order_id\n", "    partition_key: order_id\n    sort_key: SK\n"
        ),
        r"streamlake\.yml:\d+: dynamodb_tables\[2\]\.entities\[0\]\.key: misses the key attribute SK",
    ),
    "a key column that reads no key attribute": (
        SHOP.replace("        key: [order_id]", "        key: [status]"),
        r"dynamodb_tables\[2\]\.entities\[0\]\.key\[0\]: 'status' reads status, not a key attribute",
    ),
    "a wrong type": (
        SHOP.replace("type: decimal(18, 2)", "type: money", 1),
        r"dynamodb_tables\[1\]\.entities\[0\]\.columns\[3\]\.type: 'money' is not one of",
    ),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_a_planted_mistake_fails_sources_check_with_one_line(case: str, tmp_path: Path) -> None:
    text, expected = PLANTED[case]
    app = tmp_path / "streamlake.yml"
    app.write_text(text)
    checked = streamlake("sources", "check", "--app", str(app))
    assert checked.returncode == 1
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert re.search(expected, lines[0]), lines[0]
    assert str(tmp_path) in lines[0] or lines[0].startswith("streamlake.yml")
    assert "Traceback" not in checked.stdout + checked.stderr


def test_the_line_named_is_the_fields_line(tmp_path: Path) -> None:
    text = SHOP.replace("    partition_key: order_id", "    partiton_key: order_id")
    with pytest.raises(ApplicationError) as raised:
        parse_application(text, tmp_path / "streamlake.yml")
    (line,) = raised.value.problems
    number = int(line.split(":")[1])
    assert text.splitlines()[number - 1].strip() == "partiton_key: order_id"


def test_the_shipped_files_are_in_step() -> None:
    checked = streamlake("sources", "check")
    assert checked.returncode == 0, checked.stderr
    assert "valid" in checked.stdout


# ---------------------------------------------------------------- apply and drift


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The generated files' folders of a copy of the project, and the shop's file."""
    copy = tmp_path / "project"
    for folder in ("dbt_project/models", "dbt_project/macros", "dbt_project/seeds"):
        shutil.copytree(PROJECT_ROOT / folder, copy / folder)
    shutil.copy(PROJECT_ROOT / "streamlake.yml", copy / "streamlake.yml")
    return copy


def test_apply_keeps_a_file_edited_by_hand_and_says_so(project: Path) -> None:
    app = load_application(project / "streamlake.yml")
    silver = project / SILVER / "orders.sql"
    silver.write_text(silver.read_text().replace("from latest", "from latest\n-- reviewed"))
    result = apply(project, generate(app, project))
    assert (
        SILVER / "orders.sql",
        "edited by hand; in step with the application file",
    ) in result.kept
    assert "-- reviewed" in silver.read_text()
    assert drift("streamlake.yml", project, generate(app, project)) == []

    applied = streamlake("sources", "apply", "--app", str(project / "streamlake.yml"),
                         "--project-dir", str(project))  # fmt: skip
    assert "kept      dbt_project/models/silver/orders.sql: edited by hand" in applied.stdout
    forced = streamlake("sources", "apply", "--force", "--app", str(project / "streamlake.yml"),
                        "--project-dir", str(project))  # fmt: skip
    assert forced.returncode == 0
    assert "-- reviewed" not in silver.read_text()


def test_check_reports_drift_one_line_each(project: Path) -> None:
    app_file = project / "streamlake.yml"
    text = app_file.read_text()
    # A new column for orders, a file deleted, an edited file whose inputs changed since.
    app_file.write_text(text.replace(
        "          - {name: quantity, type: integer, description: Units ordered.}",
        "          - {name: quantity, type: integer, description: Units ordered.}\n"
        "          - {name: coupon, description: The coupon used.}",
    ))  # fmt: skip
    (project / SILVER / "customers.yml").unlink()
    edited = project / "dbt_project/models/bronze/stg_orders.sql"
    edited.write_text(edited.read_text() + "-- mine\n")
    checked = streamlake("sources", "check", "--app", str(app_file), "--project-dir", str(project))
    assert checked.returncode == 1
    lines = sorted(checked.stderr.strip().splitlines())
    assert lines == [
        "dbt_project/models/bronze/_bronze__sources.yml: out of date with "
        f"{app_file}; run `streamlake sources apply`",
        "dbt_project/models/bronze/stg_orders.sql: edited by hand, and "
        f"{app_file} changed since it was generated; merge the change by hand or run "
        "`streamlake sources apply --force`",
        "dbt_project/models/bronze/stg_orders.yml: out of date with "
        f"{app_file}; run `streamlake sources apply`",
        "dbt_project/models/silver/customers.yml: missing; run `streamlake sources apply`",
        f"dbt_project/models/silver/orders.sql: out of date with {app_file}; run "
        "`streamlake sources apply`",
        f"dbt_project/models/silver/orders.yml: out of date with {app_file}; run "
        "`streamlake sources apply`",
    ], lines


def test_a_new_gold_model_is_named_until_apply_lists_it(project: Path) -> None:
    gold = project / "dbt_project/models/gold/shop/refunds.sql"
    gold.write_text("select 1 as refund_id\n")
    app = load_application(project / "streamlake.yml")
    assert drift("streamlake.yml", project, generate(app, project)) == [
        f"{APPLICATION_MACRO}: does not list the Gold model refunds, which pipeline_health and "
        "data_quality must count; run `streamlake sources apply`"
    ]
    apply(project, generate(app, project))
    assert '"refunds"' in (project / APPLICATION_MACRO).read_text()


def test_prune_deletes_what_the_application_no_longer_names(project: Path) -> None:
    app_file = project / "streamlake.yml"
    shop = yaml.safe_load(app_file.read_text())
    shop["dynamodb_tables"] = [t for t in shop["dynamodb_tables"] if t["source"] != "products"]
    app_file.write_text(yaml.safe_dump(shop, sort_keys=False))
    app = load_application(app_file)
    assert f"{SILVER}/products.sql: generated for a source or entity" in "\n".join(
        drift("streamlake.yml", project, generate(app, project))
    )
    result = apply(project, generate(app, project), prune=True)
    assert SILVER / "products.sql" in result.pruned
    assert not (project / SILVER / "products.sql").exists()
    assert (project / SILVER / "shop" / "orders_enriched.sql").exists(), "hand-written files stay"


def test_a_single_table_entity_is_matched_and_its_keys_stripped() -> None:
    studio = load_application(PROJECT_ROOT / "examples" / "studio" / "streamlake.yml")
    files = {f.path.name: f.body for f in generate(studio, PROJECT_ROOT)}
    sessions = files["stg_sessions.sql"]
    assert "where {{ starts_with(dynamodb_text('keys', 'SK'), 'SESSION#') }}" in sessions
    assert "{{ strip_prefix(dynamodb_text('keys', 'PK'), 'MEMBER#') }} as member_id" in sessions
    assert (
        "where {{ dynamodb_text('item', 'entityType') }} = 'booking'" in files["stg_bookings.sql"]
    )
    assert "unique_key=['member_id', 'class_id']" in files["bookings.sql"]
    assert "latest_changes('stg_bookings', ['member_id', 'class_id'])" in files["bookings.sql"]
    bookings = yaml.safe_load(files["bookings.yml"])["models"][0]
    assert {
        "unique_combination_of_columns": {
            "arguments": {"combination_of_columns": ["member_id", "class_id"]}
        }
    } in bookings["data_tests"]
