"""An offline stand-in for Athena (moto's server, Trino's grammar, statements run on DuckDB and
DuckLake; see server.py). May import ingestion, flows.warehouse and flows.demo_app.
"""

from athena_emulator.engine import AthenaFailure, Frontend, Outcome
from athena_emulator.server import AthenaEmulator

__all__ = ["AthenaEmulator", "AthenaFailure", "Frontend", "Outcome"]
