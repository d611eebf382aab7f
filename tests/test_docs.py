"""The README stays short and the docs stay true: links resolve, named files exist.

A link to a page or a heading that moved, or a path in backticks that a move
left behind, fails here rather than in front of a reader.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 250
# The top-level folders of the repository whose paths the docs name in backticks.
REPO_FOLDERS = (
    "ingestion",
    "flows",
    "grafana",
    "infra",
    "dbt_project",
    "tests",
    "bench",
    "docs",
    "athena_emulator",
    "examples",
)

LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[[^\]\n]*\]\(([^)\s]+)\)")
CODE_PATH = re.compile(r"`((?:" + "|".join(REPO_FOLDERS) + r")/[\w./-]*)`")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def markdown_files() -> list[Path]:
    files = [README, ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
    files += [ROOT / "infra" / "README.md", ROOT / "grafana" / "README.md"]
    files += sorted((ROOT / "dbt_project").rglob("*.md"))
    return [f for f in files if f.exists() and "target" not in f.relative_to(ROOT).parts]


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings (lowercase, punctuation dropped, dashes)."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def broken_links(page: Path) -> list[str]:
    text = page.read_text()
    prose = FENCE.sub("", text)
    broken = []
    for target in LINK.findall(prose) + IMAGE.findall(prose):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in github_anchors(linked.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def missing_paths(page: Path) -> list[str]:
    """Repository paths named in backticks (not in code blocks) that do not exist."""
    prose = FENCE.sub("", page.read_text())
    return sorted(
        {path for path in CODE_PATH.findall(prose) if not (ROOT / path.rstrip("/.")).exists()}
    )


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_named_path_resolves(page: Path) -> None:
    assert broken_links(page) == []
    assert missing_paths(page) == []


def test_the_readme_is_short_and_leads_into_every_page_of_docs() -> None:
    readme = README.read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(readme)}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert unlinked == [], f"docs/ pages the README does not link: {unlinked}"


def test_the_checks_catch_a_moved_page_a_lost_heading_and_a_stale_path(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\n## Replay quarantined records\n")
    page = tmp_path / "index.md"
    page.write_text(
        "[ok](guide.md#replay-quarantined-records) [gone](moved.md) "
        "[lost](guide.md#replay) `flows/dashboards/sales.py` `flows/cli.py`\n"
        "```\n[in a code block](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "moved.md: no such file",
        "guide.md#replay: no heading #replay in guide.md",
    ]
    assert missing_paths(page) == ["flows/dashboards/sales.py"]


# The figures table: docs/benchmarks.md holds every row, the README copies some.
FIGURES = re.compile(r"^<!-- figures: begin -->\n(.*?)^<!-- figures: end -->", re.M | re.S)
BENCHMARKS = DOCS / "benchmarks.md"


def figure_rows(markdown: str) -> list[str]:
    """The table rows between a page's figures markers (header and separator first)."""
    found = FIGURES.search(markdown)
    assert found, "no <!-- figures: begin --> ... <!-- figures: end --> block"
    return [line.strip() for line in found.group(1).splitlines() if line.strip()]


def figures_not_in_benchmarks(readme: str, benchmarks: str) -> list[str]:
    """README rows that are not, word for word, a row of benchmarks.md's table."""
    home = figure_rows(benchmarks)
    copy = figure_rows(readme)
    if copy[:2] != home[:2]:
        return [f"header differs: {copy[:1]}"]
    return [row for row in copy[2:] if row not in home[2:]]


def test_the_readme_figures_are_rows_of_the_benchmarks_table() -> None:
    """One home per figure: a README figure that differs from docs/benchmarks.md fails."""
    readme_rows = figure_rows(README.read_text())
    assert len(readme_rows) > 2, "the README's figures table is empty"
    assert figures_not_in_benchmarks(README.read_text(), BENCHMARKS.read_text()) == []


def test_a_figure_changed_in_one_place_only_is_caught() -> None:
    benchmarks = (
        "<!-- figures: begin -->\n| what | figure |\n|---|---|\n"
        "| handler | 137,747 records/s |\n| demo | 95.5 s |\n<!-- figures: end -->\n"
    )
    readme = benchmarks.replace("| demo | 95.5 s |\n", "")
    assert figures_not_in_benchmarks(readme, benchmarks) == []
    stale = readme.replace("137,747", "120,000")
    assert figures_not_in_benchmarks(stale, benchmarks) == ["| handler | 120,000 records/s |"]


def test_the_project_names_no_file_outside_itself() -> None:
    """A clone stands alone: no tracked file points at a path beside the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    outside = re.compile(r"\.\./shared|DESIGN\.md")
    found = []
    for name in filter(None, listed):
        path = ROOT / name.decode()
        if path.suffix in (".lock", ".png", ".parquet") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += [f"{name.decode()}: {m.group(0)}" for m in outside.finditer(text)]
    # This test names the patterns it looks for.
    assert [f for f in found if not f.startswith("tests/test_docs.py")] == []
