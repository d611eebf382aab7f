"""Pictures of the project for its docs, drawn from the project itself so they cannot go stale.

- the model lineage, from dbt's manifest: Bronze sources, staging views, Silver,
  seeds, Gold and the dashboards (exposures), as a mermaid flowchart;
- the lake folder, from the application file and the manifest: what `make demo`
  leaves under ./lake.

`python -m flows.project_pictures` rewrites them in the docs between their
markers (`<!-- picture: NAME -->` ... `<!-- end picture -->`);
tests/test_project_pictures.py fails while a page holds an older one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flows.warehouse.manifest import PLATFORM_TAG, project_manifest
from ingestion.application import PROJECT_ROOT, Application, current_application
from ingestion.settings import Settings

DOCS = PROJECT_ROOT / "docs"
# Which picture goes on which page.
PAGES = {"lineage": DOCS / "lineage.md", "lake": DOCS / "local-run.md"}
MARKER = re.compile(r"(<!-- picture: (\w+) -->\n)(.*?)(<!-- end picture -->)", re.S)
LAYERS = (
    ("sources", "Bronze: the landed files"),
    ("bronze", "staging views"),
    ("silver", "Silver"),
    ("seeds", "seeds"),
    ("gold", "Gold"),
    ("exposures", "dashboards"),
)


def _id(unique_id: str) -> str:
    """model.streamlake.orders -> model_orders: unique across resource types."""
    kind, _, name = unique_id.split(".", 2)
    return re.sub(r"\W", "_", f"{kind}_{name}")


def _layer(node: dict[str, Any]) -> str | None:
    kind = node["resource_type"]
    if kind == "source":
        return "sources" if node["name"] != "quarantine" else None
    if kind == "seed":
        return "seeds"
    if kind == "exposure":
        return "exposures"
    if kind == "model":
        return node["fqn"][1]
    return None


def lineage(manifest: dict[str, Any] | None = None) -> str:
    """The models' lineage as a mermaid flowchart, left to right, a subgraph per layer.

    The platform's own Gold models read every source and model: they are shown
    apart, fed by the Gold layer as a whole, so that their dozens of edges do not
    hide the others."""
    manifest = manifest or project_manifest()
    nodes = {
        **manifest["sources"],
        **{k: n for k, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")},
        **manifest["exposures"],
    }
    platform = {
        k for k, n in nodes.items() if n["resource_type"] == "model" and PLATFORM_TAG in n["tags"]
    }
    lines = ["flowchart LR"]
    for layer, title in LAYERS:
        members = sorted(
            (n.get("label") or n["name"], k)
            for k, n in nodes.items()
            if _layer(n) == layer and k not in platform
        )
        if not members:
            continue
        lines.append(f'  subgraph {layer}["{title}"]')
        lines += [f'    {_id(k)}["{name}"]' for name, k in members]
        lines.append("  end")
    if platform:
        lines.append('  subgraph platform["the platform\'s health: every source and model"]')
        lines += [f'    {_id(k)}["{nodes[k]["name"]}"]' for k in sorted(platform)]
        lines.append("  end")
        lines.append("  gold -.-> platform")
    edges = set()
    for key, node in nodes.items():
        if key in platform or _layer(node) is None:
            continue
        for parent in node.get("depends_on", {}).get("nodes", []):
            drawn = parent in nodes and (parent in platform or _layer(nodes[parent]) is not None)
            if drawn:
                edges.add(f"  {_id(parent)} --> {_id(key)}")
    return "\n".join([*lines, *sorted(edges)]) + "\n"


# What each folder of the lake holds, for the tree's comments.
LAKE_FOLDERS = {
    "bronze": "what the handlers landed: Parquet, one file per delivered batch",
    "quarantine": "records that could not land, with their bytes and the reason",
    "warehouse": "Silver and Gold: the DuckLake tables' Parquet files",
    "catalog": "the DuckLake catalog (a DuckDB file) and the writer lock",
    "_state": "what the flows remember between runs",
    "_logs": "the handlers' JSON log lines",
    "_dashboards": "the dashboards rendered from the local Gold",
}


def lake_tree(app: Application | None = None, manifest: dict[str, Any] | None = None) -> str:
    """The lake folder after `make demo`, from the application and the project's models."""
    app = app or current_application(Settings().app_config)
    manifest = manifest or project_manifest()
    tables: dict[str, list[str]] = {"silver": [], "gold": []}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "seed":
            tables["silver"].append(node["name"])
        elif node["resource_type"] == "model" and node["fqn"][1] in tables:
            tables[node["fqn"][1]].append(node["name"])
    dashboards = sorted(e["name"] for e in manifest["exposures"].values())

    def folder(name: str, comment: str, depth: int) -> str:
        return f"{'    ' * depth + name + '/':<32}{'# ' + comment if comment else ''}".rstrip()

    lines = ["lake/"]
    for area in ("bronze", "quarantine"):
        lines.append(folder(area, LAKE_FOLDERS[area], 1))
        for source in app.sources:
            lines.append(folder(source, "", 2))
        lines.append(folder("dt=YYYY-MM-DD", "a folder per landing day, under each source", 3))
    lines.append(folder("warehouse", LAKE_FOLDERS["warehouse"], 1))
    for layer in ("silver", "gold"):
        lines.append(folder(layer, "", 2))
        lines += [folder(name, "", 3) for name in sorted(tables[layer])]
    lines.append(folder("catalog", LAKE_FOLDERS["catalog"], 1))
    lines += ["        streamlake.ducklake", "        writer.lock"]
    lines.append(folder("_state", LAKE_FOLDERS["_state"], 1))
    lines.append(folder("_logs", LAKE_FOLDERS["_logs"], 1))
    lines.append("        ingestion.jsonl")
    lines.append(folder("_dashboards", LAKE_FOLDERS["_dashboards"], 1))
    lines += [f"        {name}.png" for name in dashboards]
    return "\n".join(lines) + "\n"


def pictures() -> dict[str, str]:
    """Each picture as the docs hold it, fenced."""
    return {
        "lineage": f"```mermaid\n{lineage()}```\n",
        "lake": f"```\n{lake_tree()}```\n",
    }


def stale(drawn: dict[str, str] | None = None) -> list[str]:
    """The pages whose picture is not the one the project draws now."""
    drawn = drawn or pictures()
    found = []
    for name, page in PAGES.items():
        held = {m.group(2): m.group(3) for m in MARKER.finditer(page.read_text(encoding="utf-8"))}
        if held.get(name) != drawn[name]:
            found.append(
                f"{page.relative_to(PROJECT_ROOT)}: the {name} picture is stale or missing"
            )
    return found


def write() -> list[Path]:
    drawn = pictures()
    written = []
    for page in sorted(set(PAGES.values())):
        text = page.read_text(encoding="utf-8")
        updated = MARKER.sub(lambda m: m.group(1) + drawn[m.group(2)] + m.group(4), text)
        if updated != text:
            page.write_text(updated, encoding="utf-8")
            written.append(page)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    for line in stale():
        print(f"{line}: add its markers, <!-- picture: NAME --> and <!-- end picture -->")
