"""A Gold model is its SQL and its YAML: a column the SQL returns and the YAML does not
declare stops the model on both targets, with one line naming the model and the column.

On Athena the incremental MERGE writes the declared columns only, so without the check
such a column would be dropped without a word (dbt_project/macros/materializations/
declared_columns.sql). Planted in a copy of the project: in a model already built (the
incremental path, where the drop would happen) and in a model's first build.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from athena_emulator.landing import land
from flows.demo_app.delivery import DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.workload import generate
from flows.warehouse.lakehouse import PROJECT_DIR, dbt_environment, run_dbt
from ingestion.settings import Settings
from tests.projects import project_copy
from tests.test_athena import (
    LAKE,
    SMALL_PLAN,
    STATEMENT_LOG,
    AwsBuild,
    _isolated_environment,
    emulated_account,
)

pytestmark = pytest.mark.slow

MODEL = "dbt_project/models/gold/shop/top_events.sql"
PLANTED = "count(*) as event_count,\n    1 as planted_column,"
MESSAGE = re.compile(
    r"model top_events returns column planted_column, which its YAML does not declare: add it "
    r"to dbt_project/models/gold/shop/_shop__models\.yml \(name, description, data_type\) or "
    r"drop it from dbt_project/models/gold/shop/top_events\.sql"
)


def plant(project: Path) -> None:
    model = project / MODEL
    model.write_text(model.read_text().replace("count(*) as event_count,", PLANTED))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_copy(
        tmp_path_factory.mktemp("declared"), (PROJECT_DIR / "streamlake.yml").read_text()
    )


def dbt(project: Path, settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.warehouse.dbt_command", *args,
         "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project, env={**__import__("os").environ, **dbt_environment(settings)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_an_undeclared_column_fails_the_local_build_by_name(project: Path, tmp_path: Path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"))
    feed(deliveries(generate(SMALL_PLAN), DeliveryConfig(seed=3)), settings)
    run_dbt(settings, ["seed", "--quiet"], project_dir=project)
    run_dbt(settings, ["run", "--quiet"], project_dir=project)
    plant(project)
    try:
        incremental = dbt(project, settings, "run", "--select", "top_events")
        first = dbt(project, settings, "run", "--select", "top_events", "--full-refresh")
    finally:
        (project / MODEL).write_text((PROJECT_DIR / MODEL).read_text())
    for completed in (incremental, first):
        output = completed.stdout + completed.stderr
        assert completed.returncode == 1
        assert len(MESSAGE.findall(output)) >= 1, output[-3000:]
        assert "Traceback" not in output


@pytest.fixture(scope="module")
def aws(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsBuild]:
    with emulated_account(STATEMENT_LOG.with_name("declared_columns.log")) as emulator:
        land(emulator, deliveries(generate(SMALL_PLAN), DeliveryConfig(seed=3)), LAKE)
        build = AwsBuild(
            emulator=emulator,
            target_path=tmp_path_factory.mktemp("aws-declared") / "target",
            steps={},
            environment=_isolated_environment(emulator),
            project_dir=project,
        )
        for name, args in (
            ("bronze", ["run-operation", "create_bronze_tables"]),
            ("seed", ["seed"]),
            ("first", ["run"]),
        ):
            step = build.dbt(name, *args)
            assert step.returncode == 0, step.output[-6000:]
        yield build


def test_an_unchanged_model_sends_no_column_probe_on_aws(aws: AwsBuild) -> None:
    """The check's query runs when the model's file or YAML changed, not on every run."""
    step = aws.dbt("again", "run", "--select", "top_events")
    assert step.returncode == 0, step.output[-4000:]
    probes = [
        s for s in step.statements if "limit 0" in s.sql.lower() or "where false" in s.sql.lower()
    ]
    assert probes == []


def test_an_undeclared_column_fails_the_aws_build_by_name(aws: AwsBuild, project: Path) -> None:
    plant(project)
    try:
        incremental = aws.dbt("planted", "run", "--select", "top_events")
    finally:
        (project / MODEL).write_text((PROJECT_DIR / MODEL).read_text())
    assert incremental.returncode == 1
    assert MESSAGE.search(incremental.output), incremental.output[-4000:]
    merges = [s for s in incremental.statements if s.sql.lstrip().lower().startswith("merge")]
    assert merges == [], "the model stopped before its MERGE"
