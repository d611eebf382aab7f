"""The Athena emulator, a development tool: moto's server, Trino's grammar, statements run on
DuckDB and DuckLake (server.py). May import ingestion and flows (the transform's selection).

Importing the package imports nothing else, so that `streamlake --help` does not pay for
moto and the Trino grammar: import what you use from its modules (`athena_emulator.server`,
`athena_emulator.engine`).
"""
