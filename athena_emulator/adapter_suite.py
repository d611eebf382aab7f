"""dbt-athena's own functional suite, run against the Athena emulator (`make athena-suite`).

The suite (`tests/functional` of dbt-athena, written and run by its maintainers
against real Athena) measures the emulator against SQL no one here wrote. Two
steps, both driven by the Makefile:

- `fetch`: an install step, like installing a package. The suite's source is
  the PyPI sdist of dbt-athena at the version uv.lock pins; its URL and sha256
  come from uv.lock, the download is checked against that hash and its
  `tests/` folder is unpacked under .tools/ (ignored by git: nothing of the
  suite is committed). Nothing downloads at run time.
- `run`: starts the emulator in this process (127.0.0.1, a free port), points
  the suite's DBT_TEST_ATHENA_* variables and boto3 at it, runs the suite with
  the pytest of its own environment (.tools/athena-suite: dbt-tests-adapter
  beside the project's locked packages, from uv.lock's `athena-suite` group)
  and prints passed, failed and skipped per file, then the totals.

`python -m athena_emulator.adapter_suite run --help` lists the options
(`-k`, files, `--min-passed`); docs/athena-emulator.md has the figure and the
reason of each test that still fails.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from athena_emulator.server import AthenaEmulator

ROOT = Path(__file__).resolve().parents[1]
SUITE_PACKAGE = "dbt-athena"
SUITE_FOLDER = "tests/functional"
BUCKET = "dbt-athena-suite"
# Not `primary`: moto has a workgroup of that name already.
WORKGROUP = "dbt-athena-suite"
OUTCOMES = ("passed", "failed", "skipped")
PYTEST_INI = """[pytest]
filterwarnings =
    ignore:.*'soft_unicode' has been renamed to 'soft_str'*:DeprecationWarning
    ignore:unclosed file .*:ResourceWarning
"""


class SuiteError(Exception):
    """What went wrong, in one line for the command's user."""


@dataclass(frozen=True)
class Sdist:
    name: str
    version: str
    url: str
    sha256: str


def locked_sdist(lock: Path, package: str = SUITE_PACKAGE) -> Sdist:
    """The sdist uv.lock records for a package: its URL and sha256."""
    data = tomllib.loads(lock.read_text())
    for entry in data.get("package", []):
        if entry.get("name") == package and "sdist" in entry:
            algorithm, _, digest = entry["sdist"]["hash"].partition(":")
            if algorithm != "sha256":
                raise SuiteError(f"uv.lock hashes {package}'s sdist with {algorithm}, not sha256")
            return Sdist(package, entry["version"], entry["sdist"]["url"], digest)
    raise SuiteError(f"uv.lock has no sdist of {package}")


def fetch(lock: Path, into: Path) -> Path:
    """Download the locked sdist, check its sha256 and unpack its tests/ into `into`;
    `into` is replaced only when all of that succeeded. Returns `into`."""
    sdist = locked_sdist(lock)
    with tempfile.TemporaryDirectory(prefix="athena-suite-") as scratch:
        archive = Path(scratch) / sdist.url.rsplit("/", 1)[-1]
        with urllib.request.urlopen(sdist.url, timeout=120) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != sdist.sha256:
            raise SuiteError(
                f"{archive.name}: sha256 {digest} is not the {sdist.sha256} uv.lock records"
            )
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"]]
            tar.extractall(unpacked, members=members, filter="data")
        (top,) = unpacked.iterdir()
        (top / "SOURCE").write_text(f"{sdist.url}\nsha256:{sdist.sha256}\n")
        # The suite's own pytest settings (its pyproject's, without the test.env file
        # and `-n auto`), so that pytest never takes this project's for its rootdir's.
        (top / "pytest.ini").write_text(PYTEST_INI)
        if into.exists():
            shutil.rmtree(into)
        into.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(top, into)
    return into


# ----------------------------------------------------------------- the run


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    outcome: str  # passed, failed or skipped
    message: str


# An error in Athena's words (Trino's error name, or the emulator's), as dbt prints it.
ATHENA_ERROR = re.compile(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+): [^\n]+")


def cases_from_junit(report: Path) -> list[Case]:
    """Each test case of pytest's JUnit XML (an error in a fixture counts as a
    failure); a failure's message is the first Athena error of its output, if any."""
    cases = []
    for case in ET.parse(report).getroot().iter("testcase"):
        classname = case.get("classname", "")
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", child.get("message", "")
                # The failure's trace and the captured output, each element apart.
                output = "\n".join(c.text or "" for c in case)
                athena = ATHENA_ERROR.search(output)
                if athena is not None:
                    message = athena.group()
                break
            if child.tag == "skipped":
                outcome, message = "skipped", child.get("message", "")
        module = ".".join(p for p in classname.split(".") if not p[:1].isupper())
        cases.append(
            Case(
                file=module.replace(".", "/") + ".py",
                name=f"{classname.rsplit('.', 1)[-1]}::{case.get('name', '')}",
                outcome=outcome,
                message=" ".join(message.split())[:300],
            )
        )
    return cases


def summary(cases: list[Case]) -> str:
    """Passed, failed and skipped per file, the totals, then each failure's first words."""
    per_file: dict[str, Counter[str]] = {}
    for case in cases:
        per_file.setdefault(case.file, Counter())[case.outcome] += 1
    width = max([len(f) for f in per_file] + [5])
    lines = [f"{'file':<{width}}  " + "  ".join(f"{o:>7}" for o in OUTCOMES)]
    total: Counter[str] = Counter()
    for file in sorted(per_file):
        counts = per_file[file]
        total.update(counts)
        lines.append(f"{file:<{width}}  " + "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{total[o]:>7}" for o in OUTCOMES))
    applicable = total["passed"] + total["failed"]
    lines.append(f"{total['passed']} of {applicable} applicable tests passed")
    failures = [c for c in cases if c.outcome == "failed"]
    if failures:
        lines.append("")
        lines.append("failed:")
        lines += [f"  {c.file}::{c.name}: {c.message}" for c in failures]
    return "\n".join(lines)


def suite_environment(emulator: AthenaEmulator, schema: str) -> dict[str, str]:
    """The process environment of the suite: boto3 and DBT_TEST_ATHENA_* at the emulator."""
    environment = emulator.process_environment()
    environment.update(
        {
            "DBT_TEST_ATHENA_S3_STAGING_DIR": f"s3://{BUCKET}/staging/",
            "DBT_TEST_ATHENA_S3_TMP_TABLE_DIR": f"s3://{BUCKET}/tmp-tables/",
            "DBT_TEST_ATHENA_REGION_NAME": emulator.region,
            "DBT_TEST_ATHENA_DATABASE": "awsdatacatalog",
            "DBT_TEST_ATHENA_SCHEMA": schema,
            "DBT_TEST_ATHENA_WORK_GROUP": WORKGROUP,
            "DBT_TEST_ATHENA_THREADS": "1",
            "DBT_TEST_ATHENA_POLL_INTERVAL": "0.2",
            "DBT_TEST_ATHENA_NUM_RETRIES": "0",
        }
    )
    return environment


def run(
    suite: Path,
    python: Path,
    work: Path,
    pytest_args: list[str],
    workers: int,
    tests: list[str] | None = None,
) -> list[Case]:
    """Run the suite (or `tests`, paths under the suite's folder) against a fresh
    emulator; its cases."""
    from athena_emulator.server import AthenaEmulator  # noqa: PLC0415 (moto: only when run)

    if not (suite / SUITE_FOLDER).is_dir() or not (suite / "pytest.ini").exists():
        raise SuiteError(f"no {SUITE_FOLDER} under {suite}: run `make athena-suite` to fetch it")
    if not python.exists():
        raise SuiteError(f"no {python}: run `make athena-suite` to build the suite's environment")
    work.mkdir(parents=True, exist_ok=True)
    report = work / "junit.xml"
    report.unlink(missing_ok=True)
    with AthenaEmulator(work / "statements.log") as emulator:
        emulator.client("s3").create_bucket(Bucket=BUCKET)
        emulator.client("athena").create_work_group(
            Name=WORKGROUP,
            Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/results/"}},
        )
        command = [
            str(python),
            "-m",
            "pytest",
            *(tests or [SUITE_FOLDER]),
            "-c",
            "pytest.ini",
            "--rootdir",
            ".",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rN",
            f"--junitxml={report}",
            # dbt's output in the report, where the failures say what Athena said.
            "-o",
            "junit_logging=all",
            *(["-n", str(workers)] if workers > 1 else []),
            *pytest_args,
        ]
        subprocess.run(
            command,
            cwd=suite,
            env=suite_environment(emulator, "dbt_suite"),
            check=False,
        )
    if not report.exists():
        raise SuiteError(f"pytest wrote no report ({report}): see its output above")
    return cases_from_junit(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="the suite's source, from uv.lock's sdist")
    fetch_parser.add_argument("--lock", type=Path, default=ROOT / "uv.lock")
    fetch_parser.add_argument("--into", type=Path, default=ROOT / ".tools/dbt-athena-suite")
    run_parser = commands.add_parser("run", help="the suite against the emulator")
    run_parser.add_argument("--suite", type=Path, default=ROOT / ".tools/dbt-athena-suite")
    run_parser.add_argument("--python", type=Path, default=ROOT / ".tools/athena-suite/bin/python")
    run_parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "target/athena_suite",
        help="where the statement log and pytest's report go",
    )
    run_parser.add_argument("--workers", type=int, default=1, help="pytest-xdist processes")
    run_parser.add_argument(
        "--tests",
        action="append",
        help=f"a test file or node id in the suite (repeatable; default {SUITE_FOLDER})",
    )
    run_parser.add_argument("--min-passed", type=int, default=0, help="fail when fewer tests pass")
    run_parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (-- -k ...)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(f"the suite's source in {fetch(args.lock, args.into)}")
            return 0
        cases = run(args.suite, args.python, args.work, args.pytest_args, args.workers, args.tests)
    except SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary(cases))
    passed = sum(c.outcome == "passed" for c in cases)
    if passed < args.min_passed:
        print(f"error: {passed} tests passed, fewer than {args.min_passed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
