"""The sparsity-frontier benchmark's selection rules (``benchmarks/sparsity_frontier.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def frontier(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    import sparsity_frontier

    return sparsity_frontier


def test_pareto_keeps_only_undominated_points(frontier):
    # (energy, MDE): b is dominated by a (more energy, worse MDE); d ties a on energy with a worse MDE.
    pts = [(1.0, 40.0), (2.0, 45.0), (0.5, 60.0), (1.0, 41.0), (3.0, 30.0)]
    assert frontier.pareto(pts) == [0, 2, 4]


def _row(w, mde, rate):
    return {"weight": w, "val_mde": mde, "val_rate": rate}


def test_choose_lowest_firing_within_mde_budget(frontier):
    rows = [_row(0, 40.0, 0.27), _row(0.5, 42.0, 0.15), _row(2, 43.9, 0.09), _row(8, 44.1, 0.04)]
    # w=8 fires least but loses 10.25 % > 10 %; w=2 (9.75 %) is the lowest firing within budget.
    assert frontier.choose(rows)["weight"] == 2


def test_choose_none_when_no_point_is_sparse_and_accurate(frontier):
    rows = [_row(0, 40.0, 0.27), _row(2, 41.0, 0.12), _row(8, 60.0, 0.05)]
    assert frontier.choose(rows) is None
