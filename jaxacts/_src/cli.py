"""Command lines generated from frozen config dataclasses: every field is a flag, defaults need none.

A field whose type is a dataclass contributes the flags of its own fields (nested configs). A flag is
named after its field's last name (``batch_size`` -> ``--batch-size``, ``optim.lr`` -> ``--lr``);
``flag_names`` renames one by its path (``{"model.kind": "model"}``), and two fields that would share a
flag are an error until one is renamed. A parsed value is stored under its field's path (the
attribute ``"optim.lr"`` of the namespace), the name that :func:`given_flags` returns and that
:func:`config_from_args` takes overrides by.

Field types: ``bool`` is ``--x`` / ``--no-x``; ``int``, ``float``, ``str`` take one value;
``X | None`` takes an X (None is a default only); ``tuple[X, ...]`` takes comma-separated values;
``X | tuple[X, ...]`` takes comma-separated values and keeps a single one as an X (a sweep of one
value is no sweep). Defaults are the dataclass's, or those of ``defaults``, an instance of it (a
preset whose values become the flag defaults). Help texts come from ``help_texts`` by path, else
from the field's entry in the ``Attributes:`` section of its class's docstring.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

Extra = Callable[[argparse.ArgumentParser], None]


@dataclasses.dataclass(frozen=True)
class _Leaf:
    path: str  # "optim.lr"
    flag: str  # "--lr"
    hint: Any  # the field's type
    default: Any  # dataclasses.MISSING: the flag is required
    doc: str  # the docstring's text for the field


def _leaves(cls: type, defaults: Any, flag_names: dict[str, str], prefix: str = "") -> list[_Leaf]:
    """Every non-dataclass field of ``cls``, nested ones included, with its default and docstring text."""
    hints = typing.get_type_hints(cls)
    docs = _attribute_docs(cls)
    out = []
    for field in dataclasses.fields(cls):
        path, hint = prefix + field.name, hints[field.name]
        if defaults is not None:
            default = getattr(defaults, field.name)
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = field.default
        if dataclasses.is_dataclass(hint):
            out += _leaves(hint, None if default is dataclasses.MISSING else default, flag_names, path + ".")
        else:
            flag = "--" + flag_names.get(path, field.name).replace("_", "-")
            out.append(_Leaf(path, flag, hint, default, docs.get(field.name, "")))
    return out


def _table(cls: type, defaults: Any, flag_names: dict[str, str] | None) -> list[_Leaf]:
    flag_names = flag_names or {}
    if defaults is not None and not isinstance(defaults, cls):
        raise TypeError(f"defaults must be a {cls.__name__}, got {type(defaults).__name__}")
    leaves = _leaves(cls, defaults, flag_names)
    unknown = set(flag_names) - {leaf.path for leaf in leaves}
    if unknown:
        raise ValueError(f"flag_names renames fields {cls.__name__} lacks: {', '.join(sorted(unknown))}")
    seen: dict[str, str] = {}
    for leaf in leaves:
        if leaf.flag in seen:
            raise ValueError(f"fields {seen[leaf.flag]} and {leaf.path} would both be {leaf.flag}: "
                             f"rename one with flag_names={{path: name}}")
        seen[leaf.flag] = leaf.path
    return leaves


def _attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> text of the Google-style ``Attributes:`` section of ``cls``'s docstring
    ('depth, width: text' documents both; rst ``literals`` lose their backticks, a sentence its period)."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    stripped = [line.strip() for line in lines]
    if "Attributes:" not in stripped:
        return {}
    docs: dict[str, str] = {}
    names: list[str] = []
    indent = None
    for line in lines[stripped.index("Attributes:") + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        entry = re.fullmatch(r"(\w+(?:\s*,\s*\w+)*):\s*(.*)", line.strip()) if depth == indent else None
        if entry:
            names = [n.strip() for n in entry[1].split(",")]
            docs.update({n: entry[2] for n in names})
        else:
            docs.update({n: f"{docs[n]} {line.strip()}" for n in names})
    return {n: text.replace("``", "").removesuffix(".") for n, text in docs.items()}


_PLURAL = {int: "integers", float: "numbers"}


def _comma_list(item: type, collapse: bool = False) -> Callable[[str], Any]:
    """An argparse type: comma-separated ``item`` values ('1e-3,3e-3' -> (0.001, 0.003)); with
    ``collapse`` a single value is returned as itself."""
    def parse(text: str) -> Any:
        what = _PLURAL.get(item, f"{item.__name__} values")
        parts = [v.strip() for v in text.split(",")] if text.strip() else []
        if "" in parts:  # '1e-3,,1e-2': a value lost to a typo, not a shorter sweep
            raise argparse.ArgumentTypeError(f"empty item in {text!r}: expected comma-separated {what}")
        try:
            values = tuple(item(v) for v in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
        # A repeated number would train or probe the same thing twice. (Strings are left to the command:
        # a comma inside brackets, 'elu(alpha=[0.5,1.0])', splits them before it rejoins them.)
        repeated = sorted({str(v) for v in values if item is not str and values.count(v) > 1})
        if repeated:
            raise argparse.ArgumentTypeError(f"{', '.join(repeated)} given more than once in {text!r}")
        return values[0] if collapse and len(values) == 1 else values
    parse.__name__ = f"list of {item.__name__}"
    return parse


def _value_type(hint: Any) -> tuple[Callable[[str], Any], bool]:
    """The argparse type of a (non-bool) field type, and whether it takes comma-separated values."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:  # X | None
            return _value_type(options[0])
        scalars = [a for a in options if typing.get_origin(a) is not tuple]
        if len(options) == 2 and len(scalars) == 1 and tuple[scalars[0], ...] in options:  # X | tuple[X, ...]
            return _comma_list(scalars[0], collapse=True), True
    elif typing.get_origin(hint) is tuple and typing.get_args(hint)[1:] == (...,):
        return _comma_list(typing.get_args(hint)[0]), True
    elif hint in (int, float, str):
        return hint, False
    raise TypeError(f"no command-line form for a field of type {hint}")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, help_texts: dict[str, str] | None = None,
                         *, defaults: Any = None, flag_names: dict[str, str] | None = None) -> None:
    """Adds a flag for each field of dataclass ``cls``, nested dataclasses' fields included (see the
    module docstring); ``defaults``: an instance of ``cls`` whose values become the flag defaults;
    ``flag_names``: flag names by field path where the field's own name will not do."""
    help_texts = help_texts or {}
    leaves = _table(cls, defaults, flag_names)
    unknown = set(help_texts) - {leaf.path for leaf in leaves}
    if unknown:
        raise ValueError(f"help_texts names fields {cls.__name__} lacks: {', '.join(sorted(unknown))}")
    for leaf in leaves:
        text = help_texts.get(leaf.path, leaf.doc).replace("%", "%%")  # argparse %-formats help texts
        required = leaf.default is dataclasses.MISSING
        kind, comma = (None, False) if leaf.hint is bool else _value_type(leaf.hint)
        shown = "" if required or leaf.default in (None, "") else f"default: {_show(leaf.default)}"
        if comma:
            shown = "comma-separated" + (f"; {shown}" if shown else "")
        kw = dict(dest=leaf.path, help=f"{text} ({shown})".strip() if shown else text)
        if required:
            kw["required"] = True
        else:
            kw["default"] = leaf.default
        if leaf.hint is bool:
            parser.add_argument(leaf.flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            parser.add_argument(leaf.flag, type=kind, metavar=leaf.flag[2:].replace("-", "_").upper(), **kw)


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any):
    """The dataclass built from parsed arguments (its fields only), nested ones included, with
    ``overrides`` by field path in place of parsed values: ``**{"model.activation": "elu"}``."""
    used: set[str] = set()

    def build(cls: type, prefix: str):
        hints, values = typing.get_type_hints(cls), {}
        for field in dataclasses.fields(cls):
            path = prefix + field.name
            if path in overrides:
                values[field.name] = overrides[path]
                used.add(path)
            elif dataclasses.is_dataclass(hints[field.name]):
                values[field.name] = build(hints[field.name], path + ".")
            else:
                values[field.name] = getattr(args, path)
        return cls(**values)

    config = build(cls, "")
    unknown = set(overrides) - used
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    return config


def _parser(cls: type, description: str, help_texts: dict[str, str] | None, extra: Extra | None,
            defaults: Any, flag_names: dict[str, str] | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, cls, help_texts, defaults=defaults, flag_names=flag_names)
    if extra:
        extra(parser)
    return parser


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _join_negative_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """'--lr -1e-3' as '--lr=-1e-3': argparse reads a value that starts with '-' and is not a plain
    decimal ('-1e-3', '-.5,1') as a flag, and the flag before it as missing its value."""
    takes_value = {flag for action in parser._actions if action.nargs is None and action.option_strings
                   and not isinstance(action, argparse.BooleanOptionalAction) for flag in action.option_strings}
    out: list[str] = []
    for token in argv:
        if out and out[-1] in takes_value and token.startswith("-") and token not in parser._option_string_actions:
            if _is_number(token.split(",")[0]):
                out[-1] = f"{out[-1]}={token}"
                continue
        out.append(token)
    return out


def parse(cls: type, argv: Sequence[str] | None, description: str, help_texts: dict[str, str] | None = None,
          extra: Extra | None = None, *, defaults: Any = None,
          flag_names: dict[str, str] | None = None) -> argparse.Namespace:
    """``argv`` parsed by the command line of ``cls`` (see :func:`add_config_arguments`) plus the flags
    that ``extra(parser)`` adds; a bad value ends the program with argparse's one-line error."""
    parser = _parser(cls, description, help_texts, extra, defaults, flag_names)
    argv = list(sys.argv[1:] if argv is None else argv)
    return parser.parse_args(_join_negative_values(parser, argv))


def command(cls: type, argv: Sequence[str] | None, description: str, help_texts: dict[str, str] | None = None,
            extra: Extra | None = None, *, defaults: Any = None,
            flag_names: dict[str, str] | None = None) -> tuple[Any, argparse.Namespace]:
    """The config a command line gives (see :func:`parse`) and the parsed namespace (for ``extra``'s
    flags); ``cls`` validates its own values (``__post_init__``): a ValueError or TypeError there ends the
    program with a one-line ``error: ...``, before any work."""
    args = parse(cls, argv, description, help_texts, extra, defaults=defaults, flag_names=flag_names)
    try:
        return config_from_args(cls, args), args
    except (ValueError, TypeError) as e:
        raise SystemExit(f"error: {e}") from None


def given_flags(cls: type, argv: Sequence[str] | None, description: str = "",
                help_texts: dict[str, str] | None = None, extra: Extra | None = None, *,
                defaults: Any = None, flag_names: dict[str, str] | None = None) -> set[str]:
    """The destinations (field paths, for config fields) of the flags present in ``argv`` (a flag
    given with its default value counts): ``argv`` parsed once more with every default suppressed.
    Call after :func:`parse` has accepted ``argv``, with the same arguments."""
    parser = _parser(cls, description, help_texts, extra, defaults, flag_names)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    argv = list(sys.argv[1:] if argv is None else argv)
    return set(vars(parser.parse_args(_join_negative_values(parser, argv))))
