"""The README's "Reliability" section is what the fault suite declares, so it cannot drift."""

from __future__ import annotations

from tests.reliability_faults import FAULTS, README, readme_block, render


def test_the_readme_lists_every_fault_the_suite_injects() -> None:
    block = readme_block(README.read_text())
    assert block is not None, "README.md lacks the generated reliability block"
    assert block == render(), "run `python -m tests.reliability_faults` to regenerate it"
    assert len(FAULTS) >= 8
    assert all(f"`{f.test}`" in block for f in FAULTS)
