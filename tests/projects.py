"""Copies of the project with another application file, as a user makes the project theirs.

No Python is edited: the copy gets the application file and, optionally, loses the
demo shop's own folders and gains files (a Gold model's SQL and YAML); then
`streamlake sources apply` writes what follows from the file, as a user runs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from flows.warehouse.lakehouse import PROJECT_DIR
from tests.test_cli import streamlake

# The demo shop's own files: what a user deletes to bring their application.
SHOP_FOLDERS = (
    "dbt_project/models/gold/shop",
    "dbt_project/models/silver/shop",
    "dbt_project/tests/shop",
    "dbt_project/seeds/shop",
)


def project_copy(
    root: Path,
    application: str,
    *,
    without_shop: bool = False,
    add: dict[str, Path] | None = None,
) -> Path:
    """The project under root/project with `application` as its streamlake.yml, the
    shop's folders deleted when asked, `add` (path in the project -> file) copied in, and
    `streamlake sources apply --prune` run."""
    project = root / "project"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    shutil.copytree(
        PROJECT_DIR / "dbt_project",
        project / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    if without_shop:
        for folder in SHOP_FOLDERS:
            shutil.rmtree(project / folder)
    (project / "streamlake.yml").write_text(application)
    for target, source in (add or {}).items():
        (project / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, project / target)
    applied = streamlake(
        "sources", "apply", "--prune", "--project-dir", str(project),
        "--app", str(project / "streamlake.yml"),
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return project
