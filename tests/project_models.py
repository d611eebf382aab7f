"""The project's models by layer, as dbt's own manifest lists them (never a list kept by hand).

A new Silver or Gold model is covered by the equality, oracle and reliability
tests that compare tables, with no edit here. The project is parsed once per
test process, into a target folder of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "target" / "tests_parse"
# The platform's own Gold models (pipeline_health, data_quality) are in this group:
# they count what the others hold, and change with every run.
PLATFORM_GROUP = "platform"


@lru_cache(maxsize=1)
def manifest() -> dict:
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "parse", "--quiet", "--target-path", str(TARGET)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return json.loads((TARGET / "manifest.json").read_text())


def models(layer: str, platform: bool = False) -> list[str]:
    """The models of a folder (bronze, silver, gold) in the project's order; the platform's
    own (pipeline_health, data_quality) only when asked for."""
    found = [
        node
        for node in manifest()["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == layer
    ]
    return sorted(
        node["name"]
        for node in found
        if platform or layer != "gold" or node["config"]["group"] != PLATFORM_GROUP
    )
