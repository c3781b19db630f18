"""Command lines generated from frozen config dataclasses: every field is a flag, defaults need none."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, help_texts: dict[str, str] | None = None) -> None:
    """Adds ``--field-name`` for each field of dataclass ``cls``; tuples take comma-separated values."""
    hints = typing.get_type_hints(cls)
    help_texts = help_texts or {}
    for field in dataclasses.fields(cls):
        default = field.default
        text = help_texts.get(field.name, "")
        hint = hints[field.name]
        if hint is bool:
            parser.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, default=default,
                                help=f"{text} (default: {default})")
        elif typing.get_origin(hint) is tuple:
            item = typing.get_args(hint)[0]
            parser.add_argument(_flag(field.name), type=_comma_list(item), default=default,
                                help=f"{text} (comma-separated; default: {','.join(map(str, default))})")
        else:
            parser.add_argument(_flag(field.name), type=hint, default=default, help=f"{text} (default: {default})")


def _comma_list(item: type):
    def parse(text: str) -> tuple:
        try:
            return tuple(item(v.strip()) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {item.__name__} values, got {text!r}")
    parse.__name__ = f"list of {item.__name__}"
    return parse


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any):
    """The dataclass built from parsed arguments (fields only), with ``overrides`` applied."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    values.update(overrides)
    return cls(**values)


def _parser(cls: type, description: str, help_texts: dict[str, str] | None,
            extra: typing.Callable[[argparse.ArgumentParser], None] | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, cls, help_texts)
    if extra:
        extra(parser)
    return parser


def parse(cls: type, argv: Sequence[str] | None, description: str, help_texts: dict[str, str] | None = None,
          extra: typing.Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    return _parser(cls, description, help_texts, extra).parse_args(argv)


def given_flags(cls: type, argv: Sequence[str] | None, description: str = "",
                help_texts: dict[str, str] | None = None,
                extra: typing.Callable[[argparse.ArgumentParser], None] | None = None) -> set[str]:
    """The destinations of the flags present in ``argv`` (a flag given with its default value counts):
    ``argv`` parsed once more with every default suppressed. Call after :func:`parse` has accepted ``argv``."""
    parser = _parser(cls, description, help_texts, extra)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))
