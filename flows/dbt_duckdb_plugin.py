"""dbt-duckdb plugin: prepares each connection before dbt attaches the DuckLake catalog.

It installs the pinned extensions from their PyPI packages (no download) and
creates the catalog's folder, which DuckLake's ATTACH needs to exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from flows.duckdb_extensions import install_pinned_extensions


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._folders = [Path(p) for p in plugin_config.get("create_folders", [])]
        extension_dir = plugin_config.get("extension_directory")
        if extension_dir:
            self._folders.append(Path(extension_dir))

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        for folder in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
        install_pinned_extensions(conn)
