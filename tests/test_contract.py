"""The tracking contract has one home: no module of the code spells a name of `lottery.tracking.contract` as a
string literal (an f-string's fixed parts count), so a name changed there cannot miss a reader elsewhere.

A name that is a plain word (`model`, `trial`, `conv2`, `condition`, …) is also an ordinary word of the code —
a column of a table, a model's own name in its registry — so it counts only where it names what a run holds:
a key read from or written to a run's params, tags or metrics (`x.params.get("model", "conv2")`,
`x.tags["trial"]`, `Param("model", …)`), an argument's default (`model="conv2"`), a module's constant
(`MODEL_PARAM = "model"`) or a key of a module's mapping (`PROTOCOL = {"init": "glorot_normal"}`, logged as
params) — except a registry's, which maps things' own names to their modules (`MODELS = {"conv2": …}`).

A control's names follow the contract's scheme (`contract.control_metric`, `contract.control_artifact`) and
no single one is a contract constant: `tests/test_controls.py` holds that every registered control's names
are the scheme's."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from entry_points import REPO

from lottery.tracking import contract

PACKAGES = ("lottery", "analysis", "experiments", "bench")
HOME = Path(contract.__file__).resolve()
RUN_DATA = ("params", "tags", "metrics")  # what a run holds, read as `<run>.data.params` etc.
WRITES = ("Param", "RunTag", "Metric", "log_param", "set_tag", "log_metric")


def contract_values() -> dict[str, str]:
    """Each string constant of the contract, spelled or built by its functions (`RANDOM_MASK_ARTIFACT`) ->
    its name there; two names that share a word (`init`) give it the first's."""
    values: dict[str, str] = {}
    for node in ast.parse(HOME.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            value = getattr(contract, node.targets[0].id)
            if isinstance(value, str):
                values.setdefault(value, node.targets[0].id)
    return values


def _names_run_data(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr in RUN_DATA
        or isinstance(node, ast.Name)
        and (node.id in RUN_DATA)
    )


def _is_registry(mapping: ast.Dict) -> bool:
    """Whether `mapping` maps names to the modules that define them (`MODELS`, `CONTROLS`): its keys are
    things' own names."""
    paths = [value.value for value in mapping.values if isinstance(value, ast.Constant)]
    return len(paths) == len(mapping.values) and all(
        isinstance(path, str) and path.startswith(tuple(f"{package}." for package in PACKAGES))
        for path in paths
    )


def module_constants(module: ast.Module) -> Iterator[ast.expr]:
    """What a module's own constants spell: a string (an alias of a contract name) or a mapping's keys (a
    dict keyed by a run's names, logged as they stand: `PROTOCOL = {"init": "glorot_normal"}`), a
    registry's excepted."""
    for statement in module.body:
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Dict):
            yield from () if _is_registry(value) else (key for key in value.keys if key is not None)
        elif value is not None:
            yield value


def run_keys(tree: ast.AST) -> Iterator[ast.Constant]:
    """The string constants of `tree` that stand where a run's param, tag or metric is named."""
    for node in ast.walk(tree):
        keys: list[ast.expr] = []
        if isinstance(node, ast.Subscript) and _names_run_data(node.value):
            keys = [node.slice]
        elif isinstance(node, ast.Call):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if called in ("get", "pop") and isinstance(function, ast.Attribute):
                keys = list(node.args) if _names_run_data(function.value) else []
            elif called in WRITES:
                keys = node.args[:2] if called in ("log_param", "set_tag", "log_metric") else node.args[:1]
        elif isinstance(node, ast.arguments):
            keys = [*node.defaults, *(d for d in node.kw_defaults if d is not None)]
        elif isinstance(node, ast.Module):
            keys = list(module_constants(node))
        yield from (key for key in keys if isinstance(key, ast.Constant) and isinstance(key.value, str))


def literals(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, value, whether it names a run's key) of each string constant of the module at `path`."""
    tree = ast.parse(path.read_text())
    keys = {id(node) for node in run_keys(tree)}
    exported = {  # `__all__` names the module's own objects (a function `top_patterns`), never a run's key
        id(name)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)
        for name in ast.walk(node.value)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exported:
            yield node.lineno, node.value, id(node) in keys


def spelled_outside(root: Path) -> list[str]:
    """`path:line: 'value' (contract.NAME)` for each contract name spelled outside the contract's module."""
    values = contract_values()
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path.resolve() == HOME:
                continue
            found += [
                f"{path.relative_to(root)}:{line}: {value!r} (contract.{values[value]})"
                for line, value, names_key in sorted(literals(path), key=lambda hit: hit[0])
                if value in values and (names_key or not value.isalnum())
            ]
    return found


def test_no_contract_name_is_spelled_outside_the_contract():
    assert spelled_outside(REPO) == []


def test_a_contract_name_spelled_elsewhere_is_found(tmp_path):
    module = tmp_path / "analysis" / "reader.py"
    module.parent.mkdir()
    module.write_text(
        'METRIC = "test_acc"\n'
        'KEY = f"remaining.{layer}"\n'
        'COLUMNS = ("condition", "trials")  # ordinary words here\n'
        'model = run.data.params.get("model", "conv2")\n'
        "def theta0_for(seed, model='conv2'): ...\n"
        'DEFAULT_MODEL = "conv2"\n'
        'PROTOCOL = {"init": "glorot_normal", "seed": 0}\n'
        'MODELS = {"conv2": "lottery.models.conv2"}  # a registry: the models\' own names\n'
        'MASK = "ticket/random_mask.npz"\n'
    )
    assert spelled_outside(tmp_path) == [
        "analysis/reader.py:1: 'test_acc' (contract.TEST_ACC)",
        "analysis/reader.py:2: 'remaining.' (contract.REMAINING_PREFIX)",
        "analysis/reader.py:4: 'model' (contract.PARAM_MODEL)",
        "analysis/reader.py:4: 'conv2' (contract.LEGACY_MODEL)",
        "analysis/reader.py:5: 'conv2' (contract.LEGACY_MODEL)",
        "analysis/reader.py:6: 'conv2' (contract.LEGACY_MODEL)",
        "analysis/reader.py:7: 'init' (contract.PARAM_INIT)",
        "analysis/reader.py:9: 'ticket/random_mask.npz' (contract.RANDOM_MASK_ARTIFACT)",
    ]
