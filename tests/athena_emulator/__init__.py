"""An offline stand-in for Athena's front end, for tests and CI (see server.py)."""

from tests.athena_emulator.engine import AthenaFailure, Frontend, Outcome
from tests.athena_emulator.server import AthenaEmulator

__all__ = ["AthenaEmulator", "AthenaFailure", "Frontend", "Outcome"]
