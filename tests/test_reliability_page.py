"""docs/reliability.md's table is what the fault suite declares, so it cannot drift."""

from __future__ import annotations

from tests.reliability_faults import FAULTS, RELIABILITY_PAGE, generated_block, render


def test_the_page_lists_every_fault_the_suite_injects() -> None:
    block = generated_block(RELIABILITY_PAGE.read_text())
    assert block is not None, "docs/reliability.md lacks the generated reliability block"
    assert block == render(), "run `python -m tests.reliability_faults` to regenerate it"
    assert len(FAULTS) >= 8
    assert all(f"`{f.test}`" in block for f in FAULTS)
