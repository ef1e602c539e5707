"""Options declared once, as dataclass fields made by `hparam` (default, help, bounds, choices, how the
option is spelled and logged), and the command lines derived from them: every command line of the project
comes from here (`python -m experiments.train`: `ExperimentConfig`, `Placement`, `RaySettings`; `python -m
analysis`: the analysis's `Settings` and its ticket cache's options).

`add_options(parser, ExperimentConfig, "experiment")` adds one option per field — `batch_size` becomes
`--batch-size` unless the field names its own flags, typed by its annotation (`X | None` as X, a `bool` a
flag, `tuple[str, ...]` one or more values), with the field's default ($VARIABLE first where it names one),
help, bounds and choices; a field holding a dataclass (`training: TrainingHparams`) contributes that
dataclass's fields, in an argument group named after the field. `build(ExperimentConfig, args)` makes the
dataclass back from the parsed arguments; the dataclass checks the values (`check_bounds`, where built).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import Field, field, fields
from typing import Any, TypeVar, cast

from lottery.errors import UserError

T = TypeVar("T")

# The keys of a field's metadata that `hparam` fills (and `lottery.options` reads).
HELP, MINIMUM, MAXIMUM, STRICT, CHOICES = "help", "minimum", "maximum", "strict", "choices"
ADDED_SINCE, IDENTIFIES, PARAM = "added_since", "identifies", "param"
LABEL, FLAGS, ENV, METAVAR = "label", "flags", "env", "metavar"
LOGGED = object()  # `param`'s default: logged under the field's own name


def hparam(
    default: T,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
    choices: tuple[str, ...] = (),
    added_since: str | None = None,
    identifies: bool = True,
    param: Any = LOGGED,
    label: str | None = None,
    flags: tuple[str, ...] = (),
    env: str | None = None,
    metavar: str | None = None,
) -> T:
    """A dataclass field holding `default`, described by `help` (one phrase, for `--help`).

    Its value must lie within `minimum` and `maximum` (either may be None: unbounded), bounds excluded if
    `strict`, or among `choices`; `check_bounds` enforces the bounds, naming the field `label` (default: its
    option). `added_since` names the change that added it after the first stores: at its default it stays
    out of the configuration's digest (`config_digest`), so configurations that predate it keep theirs.
    A field that does not tell configurations apart (the number of trials) is not `identifies`.
    `param` is the name it is logged under where that differs from the field's (None: not logged). The
    command line spells it `flags` (default `--<name>`), takes its default from $`env` where set, and shows
    its value as `metavar`."""
    metadata: dict[str, Any] = {HELP: help, MINIMUM: minimum, MAXIMUM: maximum, STRICT: strict}
    metadata |= {CHOICES: choices, ADDED_SINCE: added_since, IDENTIFIES: identifies, PARAM: param}
    metadata |= {LABEL: label, FLAGS: flags, ENV: env, METAVAR: metavar}
    return cast(T, field(default=default, metadata=metadata))


def bounds_text(f: Field) -> str:
    """The bounds of field `f` in words (`1 to 100`, `> 0`, `strictly between 0 and 1`); empty if none."""
    low, high, strict = f.metadata.get(MINIMUM), f.metadata.get(MAXIMUM), f.metadata.get(STRICT)
    if low is not None and high is not None:
        return f"strictly between {low} and {high}" if strict else f"{low} to {high}"
    if low is not None:
        return f"{'>' if strict else '>='} {low}"
    return "" if high is None else f"{'<' if strict else 'at most'} {high}"


def check_bounds(instance: Any) -> None:
    """UserError naming the first field of dataclass `instance` (not a nested one's) whose value lies outside
    its bounds (None: no value to check): `TRIALS must lie in 1..1000, got 0`, `SEED must be >= 0, got -1`."""
    for f in fields(instance):
        value, low, high = getattr(instance, f.name), f.metadata.get(MINIMUM), f.metadata.get(MAXIMUM)
        if value is None or (low is None and high is None):
            continue
        strict = f.metadata[STRICT]
        above = low is None or (value > low if strict else value >= low)
        below = high is None or (value < high if strict else value <= high)
        if above and below:
            continue
        name = f.metadata[LABEL] or flags(f)[0]
        if low is not None and high is not None:
            span = f"({low}, {high})" if strict else f"{low}..{high}"
            raise UserError(f"{name} must lie in {span}, got {value}")
        raise UserError(f"{name} must be {bounds_text(f).replace('at most', '<=')}, got {value}")


def logged_name(f: Field) -> str | None:
    """The param field `f` is logged as; None if it is not logged."""
    return f.name if f.metadata.get(PARAM, LOGGED) is LOGGED else f.metadata[PARAM]


def fields_with_types(cls: type) -> Iterator[tuple[dataclasses.Field, Any]]:
    """Each field of dataclass `cls` with its type (`X | None` read as X), in declaration order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):
            (kind,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        yield f, kind


def leaf_fields(cls: type) -> Iterator[tuple[dataclasses.Field, Any]]:
    """The fields that hold values, nested dataclasses flattened: one option each."""
    for f, kind in fields_with_types(cls):
        if dataclasses.is_dataclass(kind):
            yield from leaf_fields(kind)
        else:
            yield f, kind


def default_of(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def flags(f: dataclasses.Field) -> tuple[str, ...]:
    """The option's spellings: the field's own (`FLAGS`), else `--<name>`."""
    return f.metadata.get(FLAGS) or (option_name(f.name),)


def option_default(f: dataclasses.Field) -> Any:
    """The field's default, or $VARIABLE where the field names one (`ENV`) that is set; `()` as None."""
    default = default_of(f)
    if f.metadata.get(ENV):
        default = os.environ.get(f.metadata[ENV]) or default
    return None if default == () else default


def option_arguments(f: dataclasses.Field, kind: Any, allowed: Sequence[str] | None) -> dict[str, Any]:
    """`add_argument`'s keywords for field `f` of type `kind`."""
    default = option_default(f)
    help_text = f.metadata.get(HELP, "").replace("%", "%%")
    bounds = bounds_text(f)
    if bounds:
        help_text += f", {bounds}"
    kwargs: dict[str, Any] = {"dest": f.name, "default": default, "help": help_text}
    if f.metadata.get(METAVAR):
        kwargs["metavar"] = f.metadata[METAVAR]
    if kind is bool:
        kwargs["action"] = argparse.BooleanOptionalAction if default is not False else "store_true"
        return kwargs
    if typing.get_origin(kind) is tuple:
        kind, kwargs["nargs"] = typing.get_args(kind)[0], "+"
    kwargs["type"] = kind
    allowed = allowed or f.metadata.get(CHOICES)
    if allowed:
        kwargs["choices"] = list(allowed)
    return kwargs


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    title: str,
    *,
    choices: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """An option for each field of dataclass `cls`, in the argument group `title`; `choices` names fields'
    choices the dataclass cannot know (a registry of a higher layer). Names must be unique once flattened."""
    repeated = [name for name, n in Counter(f.name for f, _ in leaf_fields(cls)).items() if n > 1]
    if repeated:
        raise ValueError(f"{cls.__name__}: fields {repeated} would make the same option twice")
    group = parser.add_argument_group(title)
    nested = []
    for f, kind in fields_with_types(cls):
        if dataclasses.is_dataclass(kind):
            nested.append((f.name, kind))
        else:
            group.add_argument(*flags(f), **option_arguments(f, kind, (choices or {}).get(f.name)))
    for name, kind in nested:
        add_options(parser, kind, name, choices=choices)


def build(cls: type[T], args: argparse.Namespace) -> T:
    """The dataclass `cls` holding the values parsed for the options `add_options` derived from it (a field
    of one or more values as a tuple; left out: its default)."""
    values = {}
    for f, kind in fields_with_types(cls):
        if dataclasses.is_dataclass(kind):
            values[f.name] = build(kind, args)
            continue
        value = getattr(args, f.name)
        values[f.name] = default_of(f) if value is None and typing.get_origin(kind) is tuple else value
        if isinstance(value, list):
            values[f.name] = tuple(value)
    return cls(**values)
