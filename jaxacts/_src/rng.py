"""JAX's default random numbers (threefry2x32), drawn on XLA:CPU in the form the other backends get.

JAX lowers its threefry hash for the CPU as a rolled loop (``fori_loop`` over the 5 groups of 4 rounds),
which XLA:CPU runs as 5 passes over memory, and everywhere else unrolled, which XLA fuses into one pass. The
two compute the same bits. The depth probe draws every layer's weights afresh, so on a CPU it spends most of
its time in this hash: :func:`unroll_threefry_on_cpu` registers the unrolled lowering for the CPU too
(``tests/test_depth_study.py`` checks the bits against the rolled ones).
"""

from __future__ import annotations


def unroll_threefry_on_cpu() -> bool:
    """Lowers ``threefry2x32`` on the CPU as on GPUs and TPUs (the same bits); False where this JAX has no such
    rule (its private module layout changed), which leaves JAX's own lowering in place."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32
    except ImportError:
        return False
    rule = getattr(threefry2x32, "_threefry2x32_lowering_rule", None)
    primitive = getattr(threefry2x32, "threefry2x32_p", None)
    if rule is None or primitive is None:
        return False
    mlir.register_lowering(primitive, rule, platform="cpu")
    return True
