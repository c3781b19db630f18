"""Command lines generated from frozen config dataclasses: every field is a flag, defaults need none.

A nested dataclass field contributes its own fields' flags, each named after its field
(``optim.lr`` -> ``--lr``; ``flag_names={"model.kind": "model"}`` renames one); values land under field
paths (``"optim.lr"``). bool fields are ``--x/--no-x``; ``tuple[X, ...]`` and ``X | tuple[X, ...]``
take comma-separated values (the latter keeps one value as an X). Defaults: the dataclass's, or an
instance passed as ``defaults``; help: ``help_texts`` by path, else the class docstring's ``Attributes:``.
``command`` parses and builds the config, whose own ``__post_init__`` check becomes a one-line error.
"""

from jaxacts._src.cli import add_config_arguments, command, config_from_args, given_flags, parse

__all__ = ["add_config_arguments", "command", "config_from_args", "given_flags", "parse"]
