"""The map of README's layout section, held: each package imports only the packages before it in its map
(`lottery/__init__.py`, `analysis/__init__.py`), the library never imports the analysis or the entry points,
and the analysis takes from the library only what `analysis/__init__.py` names. Imports inside functions
count as much as those at the top of a module.

One exception to the ranks: every package may import the tracking contract (`CONTRACT`), so that each layer
names what it writes — the hyperparameters their protocol's params, the controls their metrics and
artifacts — from the contract's one home. It cannot close a cycle because the contract is a leaf of
constants and pure functions that imports nothing of ours, and that is held too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from entry_points import REPO

# Lowest first; a package may import the packages of its own rank and of the ranks before it.
LOTTERY = (
    ("errors", "options", "hparams", "seeds"),
    ("models",),
    ("pruning",),
    ("data",),
    ("tracking",),
    ("training",),
)
LOTTERY += (("execution",),)
ANALYSIS = (
    ("parallel",),
    ("distances",),
    ("tickets",),
    ("patterns",),
    ("statistics",),
    ("settings",),
    ("pipeline",),
)
ANALYSIS += (("reporting",), ("__main__",))
# What the analysis may take from the library.
ANALYSIS_USES = ("lottery.errors", "lottery.data.registry", "lottery.tracking", "lottery.models")
ANALYSIS_USES += ("lottery.pruning.controls", "lottery.options", "lottery.seeds")
# Importable from every rank: a leaf that imports nothing of `OURS`.
CONTRACT = "lottery.tracking.contract"
OURS = ("lottery", "analysis", "experiments", "bench")


def imported(path: Path, module: str) -> Iterator[str]:
    """What `module` (at `path`) imports: `from a import b` read as `a.b`, relative ones resolved."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..m import x` in a.b.c: a.m
                base = ".".join([*package[: len(package) - node.level + 1], base]).strip(".")
            yield from (f"{base}.{alias.name}" for alias in node.names)


def modules(root: Path, top: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((root / top).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def rank(name: str, order) -> int | None:
    """The rank in `order` of the package of `name` (`lottery.tracking.store` → that of `tracking`)."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    return next((i for i, group in enumerate(order) if parts[1] in group), None)


def uses(name: str) -> bool:
    """Whether `name` is among what the analysis may take from the library."""
    return any(name == use or name.startswith(f"{use}.") for use in ANALYSIS_USES)


def is_contract(name: str) -> bool:
    return name == CONTRACT or name.startswith(f"{CONTRACT}.")


def violations(root: Path) -> list[str]:
    """Every import of the trees under `root` that breaks the map, as `importer -> imported: why`."""
    found = []
    for top, order in (("lottery", LOTTERY), ("analysis", ANALYSIS)):
        for module, path in modules(root, top):
            own = rank(module, order)
            for name in imported(path, module):
                head = name.split(".")[0]
                if module == CONTRACT and head in OURS:
                    found.append(f"{module} -> {name}: the contract is a leaf, imported from every rank")
                elif is_contract(name):
                    continue
                elif head in ("analysis", "experiments") and head != top:
                    found.append(f"{module} -> {name}: {top} never imports {head}")
                elif head == top and own is not None:
                    theirs = rank(name, order)
                    if theirs is not None and theirs > own:
                        found.append(f"{module} -> {name}: imports upward")
                elif top == "analysis" and head == "lottery" and not uses(name):
                    found.append(f"{module} -> {name}: not among what the analysis uses of lottery")
    return sorted(found)


def test_no_module_imports_upward():
    assert violations(REPO) == []


def test_an_upward_import_is_found(tmp_path):
    for package in ("lottery/models", "lottery/tracking", "analysis/distances", "analysis/reporting"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "lottery/__init__.py").write_text("")
    (tmp_path / "analysis/__init__.py").write_text("")
    (tmp_path / "lottery/models/net.py").write_text("def f():\n    from lottery.tracking import store\n")
    (tmp_path / "lottery/tracking/store.py").write_text("from ..models import net\nimport analysis\n")
    (tmp_path / "lottery/models/conv.py").write_text("from lottery.tracking.contract import TEST_ACC\n")
    (tmp_path / "lottery/tracking/contract.py").write_text("from lottery.models import conv\n")
    (tmp_path / "analysis/distances/nnstd.py").write_text(
        "from analysis.reporting import report\nfrom lottery.execution import trial\n"
    )
    (tmp_path / "analysis/reporting/report.py").write_text("from ..distances import nnstd\n")
    assert violations(tmp_path) == [
        "analysis.distances.nnstd -> analysis.reporting.report: imports upward",
        "analysis.distances.nnstd -> lottery.execution.trial: not among what the analysis uses of lottery",
        "lottery.models.net -> lottery.tracking.store: imports upward",
        "lottery.tracking.contract -> lottery.models.conv: the contract is a leaf, imported from every rank",
        "lottery.tracking.store -> analysis: lottery never imports analysis",
    ]
