"""bench/state.py runs and checks its own restore (a small state: its figures are not asserted)."""

from __future__ import annotations

import pytest

from bench import state


def test_the_state_bench_restores_every_call_it_saved(capsys: pytest.CaptureFixture[str]) -> None:
    assert state.main(["--calls", "30", "--sample", "10"]) == 0
    assert "restored endpoint holds 30 items, 30 objects: OK" in capsys.readouterr().out
