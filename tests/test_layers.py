"""The package's import structure: data flows one way and no module imports itself in a circle.

Read from the source with :mod:`ast` (every ``import``, also those inside functions), so a
lazy import cannot hide a circle or a reach into a higher layer.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# data -> models -> train/evaluate -> export -> simulate -> hw_profiles -> compare/vendors; the
# top-level helper modules (errors, atomic, metrics, ...) sit below everything.
LAYER = {"data": 1, "models": 2, "train": 3, "evaluate": 3, "export": 4, "simulate": 5,
         "hw_profiles": 6, "compare": 7, "predict": 7, "vendors": 7, "demo": 8, "cli": 9}


def _imports(path: Path) -> set[str]:
    """Modules of ``depthsnn`` that ``path`` imports (``from .x import y`` resolved, also ``y`` if a module)."""
    mod = list(path.relative_to(SRC).with_suffix("").parts)
    pkg = mod if path.name == "__init__.py" else mod[:-1]
    if path.name == "__init__.py":
        mod = mod[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if target.split(".")[0] != "depthsnn":
                continue
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("depthsnn"))
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Each module's imports of other ``depthsnn`` modules (package ``__init__`` files left out:
    they only re-export their own modules)."""
    files = {".".join(p.relative_to(SRC).with_suffix("").parts): p for p in (SRC / "depthsnn").rglob("*.py")
             if p.name != "__init__.py"}
    return {name: {t for t in _imports(path) if t in files and t != name} for name, path in files.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYER.get(parts[1], 0)


def test_no_lower_layer_imports_a_higher_one(graph):
    bad = [(a, b) for a, deps in graph.items() for b in deps if _layer(b) > _layer(a)]
    assert bad == []


def test_no_module_import_circle(graph):
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the circle


def test_circle_detection_works():
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"depthsnn.simulate.engine": {"depthsnn.simulate.quantize"},
                                    "depthsnn.simulate.quantize": {"depthsnn.simulate.engine"}}).prepare()


def test_depth_metrics_live_below_train():
    from depthsnn import metrics
    from depthsnn.train import metrics as train_metrics

    assert _layer(metrics.__name__) == 0
    assert train_metrics.DepthMetrics is metrics.DepthMetrics
