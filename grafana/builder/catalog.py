"""The dashboards and provisioning files the code generates, and whether the committed ones match.

`generate` writes grafana/dashboards/<name>.json and the alert rules
provisioning file; `stale` lists every file whose committed content differs
from what the code generates now (a test and `streamlake dashboards check`
fail on it), and files in grafana/dashboards that no code generates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grafana.builder import (
    ALERT_RULES_FILE,
    DASHBOARD_DIR,
    alerting,
    pipeline_health,
    product_analytics,
    sales,
)
from grafana.builder.board import Board

BUILDERS: tuple[Callable[[], Board], ...] = (
    sales.build,
    product_analytics.build,
    pipeline_health.build,
)


def boards() -> list[Board]:
    return [build() for build in BUILDERS]


def generated_files(
    dashboard_dir: Path = DASHBOARD_DIR, alert_rules_file: Path = ALERT_RULES_FILE
) -> dict[Path, str]:
    """Every generated file and its exact content."""
    files = {dashboard_dir / f"{board.name}.json": board.json_text() for board in boards()}
    files[alert_rules_file] = alerting.provisioning_text()
    return files


def generate(
    dashboard_dir: Path = DASHBOARD_DIR, alert_rules_file: Path = ALERT_RULES_FILE
) -> list[Path]:
    """Write the generated files; returns the paths of those that changed."""
    written = []
    for path, text in generated_files(dashboard_dir, alert_rules_file).items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(
    dashboard_dir: Path = DASHBOARD_DIR, alert_rules_file: Path = ALERT_RULES_FILE
) -> list[str]:
    """What differs between the files on disk and what the code generates, one line each."""
    expected = generated_files(dashboard_dir, alert_rules_file)
    problems = []
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from what the code generates")
    for path in sorted(dashboard_dir.glob("*.json")):
        if path not in expected:
            problems.append(f"{path}: no code generates it")
    return problems
