"""Several processes (hosts) through ``jax.distributed``: the commands' flags, joining, one writer,
agreed decisions and reading global arrays back (see ``jaxacts._src.distributed``)."""

from jaxacts._src.distributed import add_flags, agree, any_process, barrier, initialize, is_writer, same_path, to_host

__all__ = ["add_flags", "agree", "any_process", "barrier", "initialize", "is_writer", "same_path", "to_host"]
