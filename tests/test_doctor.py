"""`streamlake doctor` on the local target: what a newcomer trips on, one line per check.

One lake folder for the module (dbt's partial parse stays warm in its target
folder); each test plants one failure and doctor must name it in one line, with
what to do, and exit 1. The aws checks are in tests/test_aws_commands.py.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows import doctor as doctor_module
from flows.cli import app
from flows.prefect_server import free_port
from flows.warehouse.writer_lock import catalog_writer
from ingestion.settings import Settings

CHECKS = [
    "python",
    "packages",
    "duckdb extensions",
    "lake folder",
    "dbt parse",
    "prefect",
    "writer lock",
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("doctor") / "lake"
    folder.mkdir()
    return folder


@pytest.fixture
def local(lake: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("STREAMLAKE_", "PREFECT_API")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STREAMLAKE_LAKE_ROOT", str(lake))
    monkeypatch.setenv("STREAMLAKE_PREFECT_PORT", str(free_port()))
    return lake


def doctor(*args: str) -> tuple[int, list[str]]:
    """`streamlake doctor` in this process: its exit code and its check lines."""
    result = CliRunner().invoke(app, ["doctor", *args])
    lines = [line for line in result.output.splitlines() if line.startswith(("ok", "FAIL"))]
    return result.exit_code, lines


def failed_checks(lines: list[str]) -> dict[str, str]:
    """The failed checks' names, each with its line."""
    return {
        line.split(":", 1)[0].removeprefix("FAIL").strip(): line
        for line in lines
        if line.startswith("FAIL")
    }


def test_a_working_machine_passes_every_check(local) -> None:
    code, lines = doctor()
    print("\n" + "\n".join(lines))
    assert code == 0, "\n".join(lines)
    assert [line.split(":", 1)[0].split(maxsplit=1)[1] for line in lines] == CHECKS
    assert "starts it on http://127.0.0.1:" in "\n".join(lines)


def _plant_python(local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor_module, "_requires_python", lambda: ">=3.12")


def _plant_package(local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    declared = importlib.metadata.requires("streamlake") or []
    monkeypatch.setattr(doctor_module, "_requirements", lambda: [*declared, "no-such-package>=1"])


def _plant_extensions(local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = local.parent / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("STREAMLAKE_DUCKDB_EXTENSION_DIR", str(blocker / "extensions"))


def _plant_lake(local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = local.parent / "lake-is-a-file"
    file.write_text("")
    monkeypatch.setenv("STREAMLAKE_LAKE_ROOT", str(file))


def _plant_parse(local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = local.parent / "unparsable"
    (other / "_dbt").mkdir(parents=True, exist_ok=True)
    (other / "_dbt" / "target").write_text("dbt cannot write its manifest under a file")
    monkeypatch.setenv("STREAMLAKE_LAKE_ROOT", str(other))


def _plant_port(local: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.setenv("STREAMLAKE_PREFECT_PORT", str(listener.getsockname()[1]))
    return listener


PLANTED = {
    "an unsupported python": (_plant_python, {"python"}, "the project needs >=3.12"),
    "a missing package": (_plant_package, {"packages"}, "no-such-package missing"),
    "no extension folder": (_plant_extensions, {"duckdb extensions"}, "not-a-folder"),
    "a lake that is a file": (
        _plant_lake,
        {"lake folder", "dbt parse"},
        "exists and is not a folder",
    ),
    "a target dbt cannot write": (_plant_parse, {"dbt parse"}, "Not a directory"),
    "a taken prefect port": (_plant_port, {"prefect"}, "is taken by something"),
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_each_planted_failure_is_named_in_one_line(local, monkeypatch, planted) -> None:
    plant, expected, says = PLANTED[planted]
    held = plant(local, monkeypatch)
    try:
        code, lines = doctor()
    finally:
        if isinstance(held, socket.socket):
            held.close()
    assert code == 1
    assert set(failed_checks(lines)) == expected, "\n".join(lines)
    first = next(line for line in lines if line.startswith("FAIL"))
    assert says in first and " -> " in first, first
    assert len(lines) == len(CHECKS)


def test_a_held_writer_lock_is_named_with_its_holder(local) -> None:
    settings = Settings(lake_root=str(local))
    with catalog_writer(settings, "transform"):
        code, lines = doctor()
    assert code == 1
    (line,) = failed_checks(lines).values()
    assert line.startswith("FAIL  writer lock: ") and '"purpose": "transform"' in line, line
    assert f'"pid": {os.getpid()}' in line
