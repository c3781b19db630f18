"""Memory XLA plans for the depth probe, from lowering and compiling only (nothing is executed).

    python -m benchmarks.probe_memory                          # width 1024, batch 512, 8 seeds, depth 100 vs 1000
    python -m benchmarks.probe_memory --full                   # every program of the depth study's --full preset
    python -m benchmarks.probe_memory --width 4096 --depths 1000

Prints, per program, temp + argument + output bytes of ``memory_analysis()`` on the default backend
(a few seconds to a minute per program on 2 CPU cores). With gradient taps and sqrt(depth)-sized
rematerialized blocks the depth-1000 program plans about 3x the depth-100 one, not 10x.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp

from jaxacts import cli
from jaxacts.probe import ProbeConfig, ProbeShape, probe_params, seeded_network_stats

GIB = 2.0**30


def planned_bytes(shape: ProbeShape, input_shape: tuple[int, ...], seeds: int) -> int:
    """temp + argument + output bytes XLA plans for the jitted seeded probe of ``shape`` (float32)."""
    config = ProbeConfig(activation=shape.activations[0], width=shape.width, depth=shape.depth,
                         architecture=shape.architecture)
    params = probe_params(config, shape, input_shape[-1], jnp.float32)
    keys = jax.eval_shape(lambda: jax.random.split(jax.random.key(0), seeds))
    inputs = jax.ShapeDtypeStruct(input_shape, jnp.float32)
    compiled = jax.jit(seeded_network_stats, static_argnums=1).lower(keys, shape, params, inputs).compile()
    m = compiled.memory_analysis()
    return m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes


def full_programs() -> list[tuple[str, ProbeShape, tuple[int, ...], int]]:
    """(first run's label, shape, input shape, seeds) of every distinct program of the study's --full preset."""
    from experiments import selfnorm_depth as study

    c = study.StudyConfig(**study.FULL)
    programs = {}
    for run, shape, input_shape in study.plan(c):
        programs.setdefault((shape, input_shape), run.label)
    return [(label, shape, input_shape, c.seeds) for (shape, input_shape), label in programs.items()]


ARCHITECTURES = ("plain", "skip", "conv")


@dataclasses.dataclass(frozen=True)
class Config:
    """Which probe programs to plan.

    Attributes:
        width, batch, seeds: the probe's width, batch and seeds trained together
        depths: the depths to plan
        architecture: plain, skip or conv
        remat: rematerialize blocks of layers above the residual threshold (--no-remat: memory ~ depth)
        full: every program of the depth study's --full preset instead
    """

    width: int = 1024
    batch: int = 512
    seeds: int = 8
    depths: tuple[int, ...] = (100, 1000)
    architecture: str = "plain"
    remat: bool = True
    full: bool = False

    def __post_init__(self):
        for name in ("width", "batch", "seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not self.depths or min(self.depths) < 1:
            raise ValueError(f"--depths must be one or more depths >= 1, got {','.join(map(str, self.depths))!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")


def main(argv=None) -> None:
    args, _ = cli.command(Config, argv, __doc__)
    print(f"backend {jax.default_backend()}, float32; planned = temp + arguments + outputs")
    if args.full:
        rows = full_programs()
    else:
        rows = [(f"depth {depth}", ProbeShape(args.width, depth, args.architecture, remat=args.remat),
                 (args.batch, args.width), args.seeds) for depth in args.depths]
    for label, shape, input_shape, seeds in rows:
        t0 = time.perf_counter()
        planned = planned_bytes(shape, input_shape, seeds)
        print(f"{label:36s} width {shape.width:5d} depth {shape.depth:5d} {shape.architecture:5s} "
              f"remat {str(shape.remat):5s} inputs {str(input_shape):18s} seeds {seeds}: "
              f"{planned / GIB:6.2f} GiB ({time.perf_counter() - t0:.0f} s to compile)", flush=True)


if __name__ == "__main__":
    main()
