"""checkov: acknowledgements written into the template beside cdk-nag's, and the scan.

checkov reads a resource's CloudFormation metadata `checkov: skip: [{id, comment}]`
(checkov/cloudformation/context_parser.py, collect_skip_comments) and reports
the check as skipped with that comment. It runs from a venv of its own,
.tools/checkov, which `make install` builds from uv.lock's `audit` group (its
pins conflict with the project's).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

CHECKOV = Path(__file__).resolve().parent.parent / ".tools" / "checkov" / "bin" / "checkov"
CHECKOV_ARGUMENTS = (
    "--framework",
    "cloudformation",
    "--skip-download",
    "--quiet",
    "--compact",
    "-o",
    "json",
)
METADATA_KEY = "checkov"
_CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")


def _resource(construct: IConstruct) -> cdk.CfnResource:
    if isinstance(construct, cdk.CfnResource):
        return construct
    child = construct.node.default_child
    if not isinstance(child, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource of its own")
    return child


def skip(construct: IConstruct, check: str, reason: str) -> None:
    """Acknowledge checkov's `check` on the construct's resource (an L2's default child)."""
    if not _CHECK_ID.match(check):
        raise ValueError(f"not a checkov AWS check id: {check}")
    if len(reason.strip()) < 40:
        raise ValueError(f"acknowledging {check} needs a reason, not {reason!r}")
    resource = _resource(construct)
    metadata = resource.get_metadata(METADATA_KEY) or {"skip": []}
    skips = [entry for entry in metadata["skip"] if entry["id"] != check]
    skips.append({"id": check, "comment": reason})
    resource.add_metadata(METADATA_KEY, {"skip": sorted(skips, key=lambda entry: entry["id"])})


def skips(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    """The template's acknowledgements: (check, logical id) -> reason."""
    return {
        (entry["id"], logical_id): entry["comment"]
        for logical_id, resource in template.get("Resources", {}).items()
        for entry in resource.get("Metadata", {}).get(METADATA_KEY, {}).get("skip", [])
    }


def scan(templates: list[Path]) -> dict[str, Any]:
    """checkov's report on the templates: `summary` (passed, failed, skipped) and the
    failed checks (with --quiet, the passed and skipped ones are left out)."""
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: run `make install`")
    arguments = [argument for path in templates for argument in ("-f", str(path))]
    done = subprocess.run(
        [str(CHECKOV), *arguments, *CHECKOV_ARGUMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit code 1 means failed checks, which the report lists; anything else is checkov's.
    if done.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout)
    if isinstance(report, list):  # one report per framework; only cloudformation here
        (report,) = report
    return report
