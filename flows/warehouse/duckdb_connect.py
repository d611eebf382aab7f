"""DuckDB connections with extensions from the pinned PyPI packages, never the network.

(Not named duckdb_extensions: Prefect runs a served flow with flows/ on sys.path,
where that name would hide the PyPI package of the same name.)

DuckDB would download an extension on first use; here each one is installed
from the `duckdb-extension-<name>` package's file into a project-local folder.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from duckdb_extensions import import_extension

# parquet, json and icu are built into the duckdb wheel; these are not.
PINNED_EXTENSIONS = ("ducklake",)
DEFAULT_EXTENSION_DIR = ".duckdb/extensions"


def connection_config(extension_dir: str | Path = DEFAULT_EXTENSION_DIR) -> dict[str, object]:
    """Settings for every local DuckDB connection: no downloads, extensions from our folder."""
    return {
        "extension_directory": str(Path(extension_dir).resolve()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def install_pinned_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Install (once per folder) and load the pinned extensions on this connection."""
    installed = {
        name
        for (name,) in con.execute(
            "select extension_name from duckdb_extensions() where installed"
        ).fetchall()
    }
    for name in PINNED_EXTENSIONS:
        if name not in installed:
            import_extension(name, con=con)
        con.load_extension(name)


def connect(
    database: str = ":memory:", extension_dir: str | Path = DEFAULT_EXTENSION_DIR, **config: object
) -> duckdb.DuckDBPyConnection:
    Path(extension_dir).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(database, config={**connection_config(extension_dir), **config})
    install_pinned_extensions(con)
    return con
