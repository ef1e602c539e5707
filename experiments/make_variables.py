"""`python -m experiments.make_variables TARGET OWN… [--others VARIABLE…]`: refuse, in one line, a variable
given on make's command line that the target does not read but that looks like one it does — what the
Makefile runs before `make train` and `make analyze`.

Make ignores a variable no recipe reads: `make train ROUND=1 EPOCH=1` would silently run the paper's 11
rounds of 10 epochs. A given variable G (its name in $MAKE_COMMAND_LINE, its value in the environment, where
make puts it) *looks like* a variable V when, compared in capitals without `_`, `-` or `.`, they are equal,
one begins with the other or contains it (4 characters at least), G is a usual name for V
(`LEARNING_RATE` for `LR`), or difflib's ratio is ≥ 0.8 (`EPOHCS`, `TRIALS`). G is refused when it is not
one of the target's own variables OWN and looks like one of them (the fix: that variable), or like one of
`--others` (variables of another target, e.g. make train's DATASET for make analyze: the fix is in `hint`).
Other variables pass: the command line also sets what other tools read (`MLFLOW_TRACKING_URI`, …).
The environment is not checked: it holds every program's variables, not only ours.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from collections.abc import Iterable, Sequence

from lottery.errors import ArgumentParser, UserError, exit_on_user_error

GIVEN = "MAKE_COMMAND_LINE"  # the names of the variables given on make's command line (the Makefile sets it)
ALIASES = {"LEARNINGRATE": "LR", "BS": "BATCHSIZE"}  # usual names, normalised, for ours
SIMILAR = 0.8  # difflib's ratio from which two names look alike
PART = 4  # the shortest name that counts as the beginning or a part of another


def normalised(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def likeness(given: str, variable: str) -> float:
    """How much `given` looks like `variable`: 1 for the same name but for case and punctuation, then a
    usual name, then one name beginning with or containing the other, then difflib's ratio (0 below
    `SIMILAR`)."""
    g, v = normalised(given), normalised(variable)
    shorter, longer = sorted((g, v), key=len)
    if g == v:
        return 1.0
    if ALIASES.get(g) == v:
        return 0.99
    if len(shorter) >= PART and shorter in longer:
        return 0.98 if longer.startswith(shorter) else 0.97
    ratio = difflib.SequenceMatcher(None, g, v).ratio()
    return ratio if ratio >= SIMILAR else 0.0


def meant(given: str, variables: Iterable[str]) -> list[str]:
    """The variables `given` looks most like (ties all kept, in their order); [] if it looks like none."""
    scores = {variable: likeness(given, variable) for variable in variables}
    best = max(scores.values(), default=0.0)
    return [variable for variable, score in scores.items() if best and score == best]


def check(
    target: str, given: Sequence[str], own: Sequence[str], others: Sequence[str] = (), hint: str = ""
) -> None:
    """UserError naming every variable of `given` that is not one of `own` but looks like one of them (with
    what was likely meant, the value given) or, if none does, every one like one of `others` (with `hint`,
    the fix)."""
    strays = sorted(name for name in given if name not in own)
    value = {name: os.environ.get(name, "") for name in strays}
    misspelt = {name: meant(name, own) for name in strays if meant(name, own)}
    if misspelt:
        suggestions = [
            " or ".join(f"{candidate}={value[name]}" for candidate in candidates)
            for name, candidates in misspelt.items()
        ]
        if len(misspelt) > 1:
            suggestions = [f"({s})" if " or " in s else s for s in suggestions]
        names = f"variable{'s' if len(misspelt) > 1 else ''} {', '.join(misspelt)}"
        raise UserError(f"make {target} has no {names}: did you mean {' '.join(suggestions)}?")
    foreign = [f"{name}={value[name]}" for name in strays if meant(name, others)]
    if foreign:
        raise UserError(f"make {target} does not read {', '.join(foreign)}: {hint}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m experiments.make_variables", description=__doc__)
    p.add_argument("target", help="the make target, as its errors name it")
    p.add_argument("own", nargs="+", help="the variables the target reads")
    p.add_argument("--others", nargs="*", default=[], help="variables of other targets, refused with --hint")
    p.add_argument("--hint", default="", help="the fix for a variable like one of --others")
    return p.parse_args(argv)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    check(args.target, os.environ.get(GIVEN, "").split(), args.own, args.others, args.hint)


if __name__ == "__main__":
    main()
