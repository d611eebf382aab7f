"""An offline stand-in for Athena's front end, for tests and CI (see server.py)."""

from flows.athena_emulator.engine import AthenaFailure, Frontend, Outcome
from flows.athena_emulator.server import AthenaEmulator

__all__ = ["AthenaEmulator", "AthenaFailure", "Frontend", "Outcome"]
