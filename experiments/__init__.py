"""The package's commands (``python -m experiments.<name>``); the benchmarks share its Ctrl-C handling."""

import sys


def _interrupted(kind, value, traceback):
    # Ctrl-C that no command caught (while importing JAX, say): one line, not a traceback. The commands
    # write their outputs as one set or checkpoint them, so nothing half-written is left behind.
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted (Ctrl-C); nothing half-written was left", file=sys.stderr)
        return
    _previous_hook(kind, value, traceback)


_previous_hook = sys.excepthook
sys.excepthook = _interrupted
