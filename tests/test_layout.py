"""The map of README's layout section, held: each package imports only the packages before it in its map
(`lottery/__init__.py`, `analysis/__init__.py`), the library never imports the analysis or the entry points,
and the analysis takes from the library only what `analysis/__init__.py` names. Imports inside functions
count as much as those at the top of a module.

One exception to the ranks: every package may import the tracking contract (`CONTRACT`), so that each layer
names what it writes — the hyperparameters their protocol's params, the controls their metrics and
artifacts — from the contract's one home. It cannot close a cycle because the contract is a leaf of
constants and pure functions that imports nothing of ours, and that is held too.

And what a refusal runs before anything heavy loads on import (`LIGHT`): importing it loads none of
`HEAVY` but those it names. Here only what importing runs counts — not imports inside functions, which run
once the refusals are passed, nor those under `if TYPE_CHECKING:`."""

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
# The third-party packages that take seconds to import.
HEAVY = ("torch", "pytorch_lightning", "lightning", "mlflow", "ray")
# The modules whose refusals come before anything heavy, and the heavy packages each may load on import: the
# driver up to its checked settings, the data folder's check (issue 23), and `bench.gpu` torch alone, to ask
# it for CUDA before it refuses.
LIGHT = {
    "experiments.train": (),
    "lottery.execution.experiment": (),
    "lottery.data.registry": (),
    "bench.gpu": ("torch",),
}


def imported(path: Path, module: str, on_load: bool = False) -> Iterator[str]:
    """What `module` (at `path`) imports: `from a import b` read as `a.b`, relative ones resolved. With
    `on_load`, only what importing it runs (`run_on_load`)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text())
    for node in run_on_load(tree) if on_load else ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..m import x` in a.b.c: a.m
                base = ".".join([*package[: len(package) - node.level + 1], base]).strip(".")
            yield from (f"{base}.{alias.name}" for alias in node.names)


def run_on_load(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes under `node` that importing its module runs: all but function bodies and the branch of
    `if TYPE_CHECKING:` (its `else` runs)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
            for statement in child.orelse:
                yield statement
                yield from run_on_load(statement)
            continue
        yield child
        yield from run_on_load(child)


def source(root: Path, module: str) -> Path | None:
    """The file of `module` under `root`, if one of ours (not a third party's module, nor a name in one)."""
    parts = module.split(".")
    candidates = (root.joinpath(*parts[:-1], f"{parts[-1]}.py"), root.joinpath(*parts, "__init__.py"))
    return next((path for path in candidates if path.is_file()), None)


def loaded(root: Path, module: str) -> dict[str, str]:
    """Every module that importing `module` loads, each with the one that imports it ("" for `module`'s
    packages): their packages too, ours followed through what they import on load, a third party's not."""
    by: dict[str, str] = {}
    todo = [(module, "")]
    while todo:
        name, importer = todo.pop()
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if prefix in by:
                continue
            by[prefix] = importer
            path = source(root, prefix)
            if path is not None:
                todo += [(child, prefix) for child in imported(path, prefix, on_load=True)]
    return by


def heavy_loads(root: Path) -> list[str]:
    """Every heavy package a module of `LIGHT` loads on import but does not name: `module loads p: chain`."""
    found = []
    for module, allowed in LIGHT.items():
        by = loaded(root, module)
        for package in sorted(set(HEAVY) - set(allowed) & by.keys()):
            chain = [package]
            while by[chain[-1]]:
                chain.append(by[chain[-1]])
            found.append(f"{module} loads {package}: {' -> '.join(reversed(chain))}")
    return found


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


def test_the_refusals_before_training_load_nothing_heavy():
    assert heavy_loads(REPO) == []


def test_a_heavy_import_on_load_is_found(tmp_path):
    for package in ("lottery", "lottery/data", "bench"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "lottery/data/registry.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from .filesystem import folder\n"
        "if TYPE_CHECKING:\n    from lottery.data.dataset import Dataset\n"
        "def load():\n    import pytorch_lightning\n"
    )
    (tmp_path / "lottery/data/filesystem.py").write_text("from lottery.data import official\n")
    (tmp_path / "lottery/data/official.py").write_text(
        "try:\n    import torch.nn\nexcept ImportError:\n    ...\n"
    )
    (tmp_path / "lottery/data/dataset.py").write_text("import mlflow\n")
    (tmp_path / "bench/gpu.py").write_text("import torch\nclass Bench:\n    import lightning\n")
    assert heavy_loads(tmp_path) == [
        "lottery.data.registry loads torch: lottery.data.registry -> lottery.data.filesystem -> "
        "lottery.data.official -> torch",
        "bench.gpu loads lightning: bench.gpu -> lightning",
    ]
