"""The cost table of docs/aws.md is what bench/aws_cost.py makes of today's templates.

The script synthesizes the default and the low-cost configurations, counts
what they hold, measures the demo workload through the Kinesis handler and
prices it all; the page must hold exactly that table (regenerate with
`uv run python bench/aws_cost.py --write`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aws_cost", ROOT / "bench" / "aws_cost.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["aws_cost"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, dict, str]:
    script = load_script()
    outdir = tmp_path_factory.mktemp("cdk.out")
    templates = script.synthesize(list(script.CONFIGURATIONS.values()), outdir)
    measured = script.measure()
    table = script.costs(templates, measured)
    return script, table, script.markdown(table, measured)


def test_the_page_holds_the_table_of_todays_templates(priced) -> None:
    script, _, markdown = priced
    page = script.AWS_PAGE.read_text()
    assert script.with_table(page, markdown) == page, (
        "docs/aws.md's cost table is stale: run `uv run python bench/aws_cost.py --write`"
    )


def test_the_low_cost_configuration_drops_nat_and_container_insights(priced) -> None:
    script, table, _ = priced

    def usd(name: str, rate: int, item: str) -> float:
        (line,) = [line for line in table[(name, rate)] if line.item.startswith(item)]
        return line.usd

    for rate in script.RATES:
        assert (
            usd("default", rate, "NAT gateways") > 30 and usd("low-cost", rate, "NAT gateways") == 0
        )
        assert (
            usd("low-cost", rate, "Container Insights")
            == 0
            < usd("default", rate, "Container Insights")
        )
        # The public IPv4 address moves from the NAT gateway to the task.
        assert usd("default", rate, "public IPv4") == usd("low-cost", rate, "public IPv4") > 0
    standing = {
        name: sum(line.usd for line in table[(name, 100)] if not line.grows)
        for name in script.CONFIGURATIONS
    }
    assert standing["low-cost"] < standing["default"]
    # What grows with the rate grows, and the statements' minimums do not.
    assert usd("default", 5000, "Kinesis data in") == pytest.approx(
        50 * usd("default", 100, "Kinesis data in")
    )
    assert usd("default", 5000, "Athena: a scheduled") == usd("default", 100, "Athena: a scheduled")
