"""dbt-duckdb plugin: prepares each connection before dbt attaches the DuckLake catalog.

It installs the pinned extensions from their PyPI packages (no download),
creates the catalog's folder (DuckLake's ATTACH needs it), and creates the
catalog itself on first use with an absolute data path. Later ATTACHes then
name no data path, so `dbt build` from the shell and `streamlake run` agree on
the catalog however each spells the lake root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from flows.warehouse.duckdb_connect import install_pinned_extensions


def create_catalog(conn: DuckDBPyConnection, catalog: Path, data_path: Path) -> None:
    """Create a DuckLake catalog whose data files live under data_path."""
    catalog.parent.mkdir(parents=True, exist_ok=True)
    data_path.mkdir(parents=True, exist_ok=True)
    conn.execute(
        f"attach 'ducklake:{catalog}' as streamlake_new_catalog (data_path '{data_path}/')"
    )
    conn.execute("detach streamlake_new_catalog")


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._extension_dir = Path(plugin_config["extension_directory"]).resolve()
        self._catalog = Path(plugin_config["ducklake_catalog"]).resolve()
        self._data_path = Path(plugin_config["ducklake_data_path"]).resolve()

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        self._extension_dir.mkdir(parents=True, exist_ok=True)
        install_pinned_extensions(conn)
        if not self._catalog.exists():
            create_catalog(conn, self._catalog, self._data_path)
