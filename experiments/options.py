"""Command-line options derived from typed dataclasses, so that each default and its help text live in one
place: the field, declared with `lottery.hparams.hparam`.

`add_options(parser, ExperimentConfig, "experiment")` adds one option per field — `batch_size` becomes
`--batch-size`, typed by its annotation, a `bool` a flag — with the field's default, help, bound and
choices; a field holding a dataclass (`training: TrainingHparams`) contributes that dataclass's fields, in
an argument group named after the field. `build(ExperimentConfig, args)` makes the dataclass back from the
parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from lottery.hparams import CHOICES, HELP, MAXIMUM

T = TypeVar("T")


def fields_with_types(cls: type) -> Iterator[tuple[dataclasses.Field, type]]:
    """Each field of dataclass `cls` with its type (`X | None` read as X), in declaration order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):
            (kind,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        yield f, kind


def leaf_fields(cls: type) -> Iterator[tuple[dataclasses.Field, type]]:
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
            continue
        default = default_of(f)
        help_text = f.metadata.get(HELP, "").replace("%", "%%")
        if f.metadata.get(MAXIMUM) is not None:
            help_text += f", at most {f.metadata[MAXIMUM]}"
        kwargs: dict[str, Any] = {"dest": f.name, "default": default, "help": help_text}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction if default else "store_true"
        else:
            kwargs["type"] = kind
            allowed = (choices or {}).get(f.name) or f.metadata.get(CHOICES)
            if allowed:
                kwargs["choices"] = list(allowed)
        group.add_argument(option_name(f.name), **kwargs)
    for name, kind in nested:
        add_options(parser, kind, name, choices=choices)


def build(cls: type[T], args: argparse.Namespace) -> T:
    """The dataclass `cls` holding the values parsed for the options `add_options` derived from it."""
    values = {
        f.name: build(kind, args) if dataclasses.is_dataclass(kind) else getattr(args, f.name)
        for f, kind in fields_with_types(cls)
    }
    return cls(**values)
