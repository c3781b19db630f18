"""Claims that teaching material makes about activations, each tested as an experiment with a
pre-registered verdict. One module per claim, registered in :data:`CLAIMS`; run them with
``python -m experiments.claims`` (see ``__main__``).

A claim module has ``ID``, ``TITLE``, ``CLAIM`` (as the source states it), ``SOURCE``, ``RULE`` (its
decision rule in words, one sub-rule per clause and the overall rule, fixed before any result was seen;
``verdict`` implements it), a frozen ``Config`` dataclass holding every grid, seed count, target,
window and threshold (with ``QUICK``, a seconds-scale instance): RULE and Config are the claim's
pre-registration, hashed into claims.json. Then ``run(config) -> dict``, ``verdict(result) -> str`` and
``figure(result, path)``, which draws from ``result["plot"]`` alone (JSON), so that a report can be
redrawn from claims.json.

``run`` returns ``protocol``, ``tested`` (what was tested, in a few words, for the verdict table: data
and model), ``measurements`` (per-seed values), ``statistic`` ({name, value}) and ``ci95`` (the primary
clause's), ``interval`` (:func:`common.interval_record`), ``tuning`` (:func:`common.tune`'s record, or
None where the learning rate is the claim's variable), ``subverdicts`` (one :func:`common.subverdict`
per clause), ``effect`` (the measured effect in words), ``details`` (markdown lines) and ``plot``.
"""

from experiments.claims import (activation_cost, data_size, dying_relu, elu_speed, leaky_slope, linear_collapse, maxout,
                                ranking, relu_vs_tanh, sigmoid_gradients, smooth_depth, tanh_vs_sigmoid)

# The six claims of the teaching material's lessons, then the six behind its advice (numbered as in the report).
CLAIMS = {m.ID: m for m in (linear_collapse, sigmoid_gradients, tanh_vs_sigmoid, relu_vs_tanh, dying_relu,
                            leaky_slope, data_size, elu_speed, ranking, smooth_depth, maxout, activation_cost)}
