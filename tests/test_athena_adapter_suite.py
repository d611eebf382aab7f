"""`make athena-suite`'s runner (athena_emulator/adapter_suite.py): where the suite's
source comes from, and how its outcome is counted. The suite itself runs against
the emulator only through the make target (minutes; docs/athena-emulator.md)."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import tomllib
from pathlib import Path

import pytest

from athena_emulator.adapter_suite import SuiteError, cases_from_junit, fetch, locked_sdist, summary

ROOT = Path(__file__).resolve().parents[1]


def test_the_suites_source_is_the_sdist_uv_lock_pins() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    pinned = next(p["version"] for p in lock["package"] if p["name"] == "dbt-athena")
    sdist = locked_sdist(ROOT / "uv.lock")
    assert sdist.version == pinned
    assert sdist.url.startswith("https://files.pythonhosted.org/")
    assert sdist.url.endswith(f"/dbt_athena-{pinned}.tar.gz")
    assert re.fullmatch(r"[0-9a-f]{64}", sdist.sha256)


def _sdist(folder: Path) -> Path:
    """A small sdist: a tests/ folder beside the package's source."""
    archive = folder / "dbt_athena-9.9.9.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in (
            ("dbt_athena-9.9.9/tests/functional/test_a.py", "def test_a(): pass\n"),
            ("dbt_athena-9.9.9/src/dbt/adapters/athena/impl.py", "# not the suite\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def _lock(folder: Path, archive: Path, sha256: str) -> Path:
    lock = folder / "uv.lock"
    lock.write_text(
        '[[package]]\nname = "dbt-athena"\nversion = "9.9.9"\n'
        f'sdist = {{ url = "{archive.as_uri()}", hash = "sha256:{sha256}" }}\n'
    )
    return lock


def test_fetch_unpacks_the_tests_of_a_download_whose_hash_matches(tmp_path: Path) -> None:
    archive = _sdist(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    into = fetch(_lock(tmp_path, archive, digest), tmp_path / "suite")
    assert (into / "tests" / "functional" / "test_a.py").exists()
    assert not (into / "src").exists()  # the adapter comes from the locked wheel
    assert (into / "SOURCE").read_text().splitlines() == [archive.as_uri(), f"sha256:{digest}"]
    assert (into / "pytest.ini").read_text().startswith("[pytest]")


def test_fetch_refuses_a_download_whose_hash_differs(tmp_path: Path) -> None:
    archive = _sdist(tmp_path)
    (tmp_path / "suite").mkdir()
    with pytest.raises(SuiteError, match="is not the 0000"):
        fetch(_lock(tmp_path, archive, "0" * 64), tmp_path / "suite")
    assert list((tmp_path / "suite").iterdir()) == []  # left as it was


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.functional.adapter.test_seed.TestSeed" name="test_a"/>
<testcase classname="tests.functional.adapter.test_seed.TestSeed" name="test_b">
  <failure message="AssertionError: dbt exit state did not match expected">trace</failure>
  <system-out>Runtime Error
  SYNTAX_ERROR: line 1:8: mismatched input ':'</system-out>
</testcase>
<testcase classname="tests.functional.adapter.utils.test_utils.TestHash" name="test_c">
  <skipped type="pytest.skip" message="not on 1.9"/>
</testcase>
</testsuite></testsuites>
"""


def test_the_outcome_is_counted_per_file_with_athenas_words(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    cases = cases_from_junit(report)
    assert [(c.file, c.outcome) for c in cases] == [
        ("tests/functional/adapter/test_seed.py", "passed"),
        ("tests/functional/adapter/test_seed.py", "failed"),
        ("tests/functional/adapter/utils/test_utils.py", "skipped"),
    ]
    # A failure names the Athena error in its output rather than dbt's assertion.
    assert cases[1].message == "SYNTAX_ERROR: line 1:8: mismatched input ':'"
    text = summary(cases)
    assert re.search(r"test_seed\.py\s+1\s+1\s+0\n", text)
    assert re.search(r"total\s+1\s+1\s+1\n", text)
    assert "1 of 2 applicable tests passed" in text
