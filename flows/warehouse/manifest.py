"""What the dbt project says exists: Gold models and their columns, from the manifest.

Alerts and exports take model and column names from users and files; they are
checked against this list before any of them reaches SQL.
"""

from __future__ import annotations

import fcntl
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flows.warehouse.lakehouse import PROJECT_DIR, dbt_target_path, run_dbt
from ingestion.settings import Settings

# Where the project's own parse goes, apart from any lake's target folder.
PARSE_TARGET = PROJECT_DIR / "target" / "project_parse"
# The platform's own Gold models (pipeline_health, data_quality) carry this tag.
PLATFORM_TAG = "platform"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class GoldModel:
    name: str
    # column name -> declared data type (Gold contracts declare every one)
    columns: dict[str, str]


def manifest_path(settings: Settings) -> Path:
    return dbt_target_path(settings) / "manifest.json"


def _manifest(settings: Settings) -> dict:
    """The project's manifest; parses the project first when none exists yet."""
    path = manifest_path(settings)
    if not path.exists():
        run_dbt(settings, ["parse", "--quiet"])
    return json.loads(path.read_text(encoding="utf-8"))


def model_names(settings: Settings) -> set[str]:
    """Models and seeds: what `backfill --full-refresh` may rebuild (a changed seed,
    such as order_statuses, is rebuilt with the models that read it)."""
    nodes = _manifest(settings)["nodes"].values()
    return {node["name"] for node in nodes if node["resource_type"] in ("model", "seed")}


def gold_models(settings: Settings) -> dict[str, GoldModel]:
    """Gold models by name, with their declared columns."""
    manifest = _manifest(settings)
    models = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["fqn"][1:2] != ["gold"]:
            continue
        columns = {
            name: (column.get("data_type") or "").lower()
            for name, column in node["columns"].items()
            if _IDENTIFIER.fullmatch(name)
        }
        models[node["name"]] = GoldModel(node["name"], columns)
    return models


@lru_cache(maxsize=1)
def project_manifest() -> dict:
    """The project's manifest as its files say now: parsed once per process, into a
    target folder of its own (what generated files and tests derive from). Processes
    that ask at once take turns, so that none reads a manifest another is writing."""
    PARSE_TARGET.mkdir(parents=True, exist_ok=True)
    with open(PARSE_TARGET / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run_dbt(Settings(), ["parse", "--quiet", "--target-path", str(PARSE_TARGET)])
        return json.loads((PARSE_TARGET / "manifest.json").read_text(encoding="utf-8"))


def layer_models(layer: str, platform: bool = False) -> list[str]:
    """The models of a folder (bronze, silver, gold) of the project, sorted by name; the
    platform's own Gold models (pipeline_health, data_quality) only when asked for."""
    return sorted(
        node["name"]
        for node in project_manifest()["nodes"].values()
        if node["resource_type"] == "model"
        and node["fqn"][1] == layer
        and (platform or PLATFORM_TAG not in node["tags"])
    )


def gold_model(settings: Settings, name: str) -> GoldModel:
    """The named Gold model, or a ValueError that lists the ones there are."""
    models = gold_models(settings)
    if name not in models:
        known = ", ".join(sorted(models))
        raise ValueError(f"unknown Gold model {name!r}; the Gold models are: {known}")
    return models[name]


def check_column(model: GoldModel, column: str, role: str = "column") -> str:
    if column not in model.columns:
        known = ", ".join(model.columns)
        raise ValueError(f"{model.name} has no {role} {column!r}; its columns are: {known}")
    return column
