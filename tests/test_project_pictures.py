"""The docs' pictures and the command-line reference are drawn from the project: a change
of the project that leaves them behind fails here."""

from __future__ import annotations

import copy

from flows import cli_reference, project_pictures
from flows.warehouse.lakehouse import PROJECT_DIR
from flows.warehouse.manifest import project_manifest


def test_the_pictures_in_the_docs_are_the_ones_the_project_draws() -> None:
    assert project_pictures.stale() == [], "run `python -m flows.project_pictures`"


def test_a_new_model_changes_the_lineage() -> None:
    manifest = copy.deepcopy(project_manifest())
    orders = manifest["nodes"]["model.streamlake.orders"]
    planted = {**orders, "name": "refunds", "unique_id": "model.streamlake.refunds",
               "fqn": ["streamlake", "gold", "refunds"],
               "depends_on": {"nodes": ["model.streamlake.orders"], "macros": []}}  # fmt: skip
    manifest["nodes"]["model.streamlake.refunds"] = planted
    drawn = project_pictures.lineage(manifest)
    assert drawn != project_pictures.lineage()
    assert 'model_refunds["refunds"]' in drawn
    assert "model_orders --> model_refunds" in drawn
    stale = project_pictures.stale(
        {**project_pictures.pictures(), "lineage": f"```mermaid\n{drawn}```\n"}
    )
    assert stale == ["docs/lineage.md: the lineage picture is stale or missing"]


def test_the_lake_picture_names_every_source_and_table() -> None:
    tree = project_pictures.lake_tree()
    for name in (
        "customers/",
        "events/",
        "orders_enriched/",
        "daily_sales_by_region/",
        "sales.png",
    ):
        assert name in tree


def test_the_cli_reference_is_current_and_every_option_has_help() -> None:
    assert cli_reference.options_without_help() == []
    page = (PROJECT_DIR / "docs" / "cli.md").read_text()
    assert page == cli_reference.render(), "run `python -m flows.cli_reference`"


def test_an_option_without_help_is_named(monkeypatch) -> None:
    import typer

    from flows import cli

    planted = typer.Typer()

    @planted.command()
    def tidy(days: int = typer.Option(3)) -> None:
        """Tidy up."""

    monkeypatch.setattr(cli_reference, "app", planted)
    assert cli_reference.options_without_help() == ["streamlake --days"]
    assert cli.app is not planted
