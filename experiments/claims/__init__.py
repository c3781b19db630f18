"""Claims that teaching material makes about activations, each tested as an experiment with a
pre-registered verdict. One module per claim, registered in :data:`CLAIMS`; run them with
``python -m experiments.claims`` (see ``__main__``).

A claim module has ``ID``, ``CLAIM`` (as the source states it), ``SOURCE``, ``RULE`` (its decision rule,
in words, fixed before any result was seen; ``verdict`` implements it), a frozen ``Config`` dataclass
with ``QUICK`` (a seconds-scale instance), ``run(config) -> dict``, ``verdict(result) -> str`` and
``figure(result, path)``. ``run`` returns ``protocol``, ``measurements`` (per-seed values),
``statistic`` ({name, value}), ``ci95``, ``effect`` (the measured effect in words, for the verdict
table) and ``details`` (markdown lines for the report), plus whatever ``figure`` draws from.
"""

from experiments.claims import (dying_relu, leaky_slope, linear_collapse, relu_vs_tanh, sigmoid_gradients,
                                tanh_vs_sigmoid)

CLAIMS = {m.ID: m for m in (linear_collapse, sigmoid_gradients, tanh_vs_sigmoid, relu_vs_tanh, dying_relu,
                            leaky_slope)}
