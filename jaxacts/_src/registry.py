"""One registry of activations: name -> function, hand-written derivative and metadata.

Tests, the gallery, the benchmark, the CLI choices and the experiments all iterate over it, so an
activation is added by writing its function (``activations.py``) and one ``_register`` call here.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

from jaxacts._src import activations as A
from jaxacts._src.elementwise import Elementwise, bind, check_types

INF = math.inf


@dataclasses.dataclass(frozen=True)
class ActivationInfo:
    """Everything known about one activation.

    Attributes:
      name: canonical registry name.
      fn: the function, ``fn(x, **hyperparameters) -> Array``.
      derivative: the hand-written derivative in x, ``d(x, **hyperparameters) -> Array`` (elementwise
        ones; ``d(x, wrt="alpha", ...)`` gives the one in a float hyperparameter), or None for
        activations that are not elementwise (maxout, glu).
      formula, derivative_formula: LaTeX.
      output_range: (low, high) of the output at the default hyperparameters; +-inf when unbounded.
      smooth: infinitely differentiable everywhere.
      monotonic: non-decreasing.
      zero_centred: f(0) = 0 and f takes both signs (outputs can average to zero).
      minimum: (x, f(x)) of a global minimum that is not at -inf, where there is one.
      kinks: points where the derivative is discontinuous (a convention is stated in the docstring).
      reference: where it comes from.
      aliases: other names it answers to.
      elementwise: acts on each element independently.
      stochastic: needs a PRNG key in training (rrelu).
    """

    name: str
    fn: Callable[..., Any]
    derivative: Callable[..., Any] | None
    formula: str
    derivative_formula: str
    output_range: tuple[float, float]
    smooth: bool
    monotonic: bool
    zero_centred: bool
    reference: str
    minimum: tuple[float, float] | None = None
    kinks: tuple[float, ...] = ()
    aliases: tuple[str, ...] = ()
    elementwise: bool = True
    stochastic: bool = False

    @property
    def bounded_below(self) -> bool:
        return self.output_range[0] > -INF

    @property
    def bounded_above(self) -> bool:
        return self.output_range[1] < INF

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Names and defaults of the keyword hyperparameters."""
        if isinstance(self.fn, Elementwise):
            return self.fn.hyperparameters
        sig = inspect.signature(self.fn)
        return {p.name: p.default for p in list(sig.parameters.values())[1:]}

    @property
    def differentiable_hyperparameters(self) -> tuple[str, ...]:
        """The float hyperparameters, each with a hand-written partial derivative (none for maxout, glu:
        their hyperparameters are integers)."""
        return self.fn.differentiable_hyperparameters if isinstance(self.fn, Elementwise) else ()


_REGISTRY: dict[str, ActivationInfo] = {}
_ALIASES: dict[str, str] = {}


def _register(fn, formula, derivative_formula, output_range, *, smooth, monotonic, zero_centred,
              reference, derivative="auto", **more) -> None:
    if derivative == "auto":
        derivative = fn.derivative
    if isinstance(fn, Elementwise) and fn.missing_rules():
        raise TypeError(f"{fn.__name__}: no hand-written derivative in {fn.missing_rules()}")
    info = ActivationInfo(name=fn.__name__, fn=fn, derivative=derivative, formula=formula,
                          derivative_formula=derivative_formula, output_range=output_range, smooth=smooth,
                          monotonic=monotonic, zero_centred=zero_centred, reference=reference, **more)
    _REGISTRY[info.name] = info
    for alias in info.aliases:
        _ALIASES[alias] = info.name


_register(A.identity, r"x", r"1", (-INF, INF), smooth=True, monotonic=True, zero_centred=True,
          reference="-", aliases=("linear",))
_register(A.heaviside, r"H(x) = [x > 0] \;(\frac{1}{2} \text{ at } 0)", r"0", (0.0, 1.0), smooth=False,
          monotonic=True, zero_centred=False, kinks=(0.0,), aliases=("step", "unit_step"),
          reference="McCulloch & Pitts 1943; Rosenblatt 1958")
_register(A.sign, r"\operatorname{sign}(x)", r"0", (-1.0, 1.0), smooth=False, monotonic=True,
          zero_centred=True, kinks=(0.0,), reference="-")
_register(A.piecewise_linear, r"\min(\max(x + \frac{1}{2}, 0), 1)", r"[-\frac{1}{2} < x < \frac{1}{2}]", (0.0, 1.0),
          smooth=False, monotonic=True, zero_centred=False, kinks=(-0.5, 0.5),
          reference="piecewise linear unit (textbook)")
_register(A.sigmoid, r"\sigma(x) = \frac{1}{1 + e^{-x}}", r"\sigma(x)(1 - \sigma(x))", (0.0, 1.0), smooth=True,
          monotonic=True, zero_centred=False, aliases=("logistic",), reference="-")
_register(A.log_sigmoid, r"\log\sigma(x)", r"\sigma(-x)", (-INF, 0.0), smooth=True, monotonic=True,
          zero_centred=False, reference="-")
_register(A.hard_sigmoid, r"\mathrm{relu6}(x + 3)/6", r"\frac{1}{6}[-3 < x < 3]", (0.0, 1.0), smooth=False,
          monotonic=True, zero_centred=False, kinks=(-3.0, 3.0), reference="Howard et al. 2019 (MobileNetV3)")
_register(A.sparse_sigmoid, r"\frac{1}{2}\,\mathrm{clip}(x + 1, 0, 2)", r"\frac{1}{2}[-1 < x < 1]", (0.0, 1.0),
          smooth=False, monotonic=True, zero_centred=False, kinks=(-1.0, 1.0),
          reference="Martins & Astudillo 2016 (sparsemax); jax.nn")
_register(A.tanh, r"\tanh x", r"1 - \tanh^2 x", (-1.0, 1.0), smooth=True, monotonic=True, zero_centred=True,
          reference="-")
# Range (-|a|, |a|) and increasing for a b > 0: at the defaults (1.7159, 2/3), (-1.7159, 1.7159).
_register(A.scaled_tanh, r"a \tanh(b x)", r"a b\,\mathrm{sech}^2(b x)",
          (-A.scaled_tanh.hyperparameters["a"], A.scaled_tanh.hyperparameters["a"]), smooth=True,
          monotonic=True, zero_centred=True,
          reference="LeCun, Bottou, Orr & Müller 1998, Efficient BackProp, sec. 4.4")
_register(A.softsign, r"\frac{x}{1 + |x|}", r"\frac{1}{(1 + |x|)^2}", (-1.0, 1.0), smooth=False,
          monotonic=True, zero_centred=True, aliases=("soft_sign",), reference="Bergstra et al. 2009")
_register(A.hard_tanh, r"\mathrm{clip}(x, -1, 1)", r"[-1 < x < 1]", (-1.0, 1.0), smooth=False, monotonic=True,
          zero_centred=True, kinks=(-1.0, 1.0), aliases=("hardtanh",), reference="Collobert 2004")
_register(A.relu, r"\max(x, 0)", r"[x > 0]", (0.0, INF), smooth=False, monotonic=True, zero_centred=False,
          kinks=(0.0,), reference="Nair & Hinton 2010; Glorot et al. 2011")
_register(A.relu6, r"\min(\max(x, 0), 6)", r"[0 < x < 6]", (0.0, 6.0), smooth=False, monotonic=True,
          zero_centred=False, kinks=(0.0, 6.0), reference="Krizhevsky 2010")
_register(A.leaky_relu, r"x \text{ if } x > 0 \text{ else } a x", r"1 \text{ if } x > 0 \text{ else } a",
          (-INF, INF), smooth=False, monotonic=True, zero_centred=True, kinks=(0.0,),
          reference="Maas et al. 2013")
_register(A.rrelu, r"x \text{ if } x > 0 \text{ else } a x,\; a \sim U(l, u)",
          r"1 \text{ if } x > 0 \text{ else } a", (-INF, INF), smooth=False, monotonic=True, zero_centred=True,
          kinks=(0.0,), stochastic=True, reference="Xu et al. 2015, arXiv 1505.00853")
_register(A.prelu, r"x \text{ if } x > 0 \text{ else } a x \;(a \text{ learned})",
          r"1 \text{ if } x > 0 \text{ else } a", (-INF, INF), smooth=False, monotonic=True, zero_centred=True,
          kinks=(0.0,), reference="He et al. 2015, arXiv 1502.01852")
_register(A.threshold, r"x \text{ if } x > \theta \text{ else } v", r"[x > \theta]", (0.0, INF), smooth=False,
          monotonic=True, zero_centred=False, kinks=(0.0,), reference="PyTorch nn.Threshold")
_register(A.elu, r"x \text{ if } x > 0 \text{ else } \alpha(e^x - 1)", r"1 \text{ if } x > 0 \text{ else } \alpha e^x",
          (-1.0, INF), smooth=False, monotonic=True, zero_centred=True, kinks=(0.0,),
          reference="Clevert et al. 2015, arXiv 1511.07289")
_register(A.selu, r"\lambda\,(x \text{ if } x > 0 \text{ else } \alpha(e^x - 1))",
          r"\lambda \text{ if } x > 0 \text{ else } \lambda\alpha e^x", (-A.SELU_SCALE * A.SELU_ALPHA, INF),
          smooth=False, monotonic=True, zero_centred=True, kinks=(0.0,),
          reference="Klambauer et al. 2017, arXiv 1706.02515")
_register(A.celu, r"x \text{ if } x > 0 \text{ else } \alpha(e^{x/\alpha} - 1)",
          r"1 \text{ if } x > 0 \text{ else } e^{x/\alpha}", (-1.0, INF), smooth=False, monotonic=True,
          zero_centred=True, kinks=(0.0,), reference="Barron 2017, arXiv 1704.07483")
_register(A.gelu, r"x\,\Phi(x)", r"\Phi(x) + x\,\varphi(x)", (-0.16997120748, INF), smooth=True, monotonic=False,
          zero_centred=True, minimum=(-0.75179153, -0.16997120748), reference="Hendrycks & Gimpel 2016, arXiv 1606.08415")
_register(A.silu, r"x\,\sigma(\beta x)", r"\sigma(\beta x) + \beta x\,\sigma(\beta x)(1 - \sigma(\beta x))",
          (-0.27846454276, INF), smooth=True, monotonic=False, zero_centred=True,
          minimum=(-1.27846456, -0.27846454276),
          aliases=("swish",), reference="Elfwing et al. 2017; Ramachandran et al. 2017, arXiv 1710.05941")
_register(A.hard_swish, r"x\,\mathrm{relu6}(x + 3)/6", r"0,\; (2x + 3)/6,\; 1", (-0.375, INF), smooth=False,
          monotonic=False, zero_centred=True, minimum=(-1.5, -0.375), kinks=(-3.0, 3.0), aliases=("hard_silu",),
          reference="Howard et al. 2019 (MobileNetV3), arXiv 1905.02244")
_register(A.mish, r"x \tanh(\mathrm{softplus}(x))",
          r"\tanh(\mathrm{sp}(x)) + x\,\mathrm{sech}^2(\mathrm{sp}(x))\,\sigma(x)", (-0.30884341302, INF), smooth=True,
          monotonic=False, zero_centred=True, minimum=(-1.19243122, -0.30884341302), reference="Misra 2019, arXiv 1908.08681")
_register(A.softplus, r"\frac{1}{\beta}\log(1 + e^{\beta x})", r"\sigma(\beta x)", (0.0, INF), smooth=True,
          monotonic=True, zero_centred=False, reference="Dugas et al. 2001")
_register(A.squareplus, r"\frac{1}{2}(x + \sqrt{x^2 + b})", r"\frac{1}{2}(1 + x/\sqrt{x^2 + b})", (0.0, INF),
          smooth=True, monotonic=True, zero_centred=False, reference="Barron 2021, arXiv 2112.11687")
_register(A.sparse_plus, r"0,\; \frac{1}{4}(x + 1)^2,\; x", r"0,\; \frac{1}{2}(x + 1),\; 1", (0.0, INF), smooth=False,
          monotonic=True, zero_centred=False, kinks=(-1.0, 1.0), reference="jax.nn (sparsemax family)")
_register(A.lisht, r"x \tanh x", r"\tanh x + x(1 - \tanh^2 x)", (0.0, INF), smooth=True, monotonic=False,
          zero_centred=False, minimum=(0.0, 0.0), reference="Roy et al. 2019, arXiv 1901.05894")
_register(A.snake, r"x + \sin^2(a x)/a", r"1 + \sin(2 a x)", (-INF, INF), smooth=True, monotonic=True,
          zero_centred=True, reference="Liu Ziyin et al. 2020, arXiv 2006.08195")
_register(A.tanhshrink, r"x - \tanh x", r"\tanh^2 x", (-INF, INF), smooth=True, monotonic=True,
          zero_centred=True, reference="PyTorch nn.Tanhshrink")
_register(A.softshrink, r"x - \mathrm{clip}(x, -\lambda, \lambda)", r"[|x| > \lambda]", (-INF, INF),
          smooth=False, monotonic=True, zero_centred=True, kinks=(-0.5, 0.5), reference="Donoho 1995; PyTorch")
_register(A.hardshrink, r"x\,[|x| > \lambda]", r"[|x| > \lambda]", (-INF, INF), smooth=False, monotonic=True,
          zero_centred=True, kinks=(-0.5, 0.5), reference="PyTorch nn.Hardshrink")
_register(A.maxout, r"\max_j x_{ij}", r"[j = \arg\max_j x_{ij}]", (-INF, INF), smooth=False, monotonic=True,
          zero_centred=True, derivative=None, elementwise=False, reference="Goodfellow et al. 2013, arXiv 1302.4389")
_register(A.glu, r"a\,\sigma(b)", r"\sigma(b),\; a\,\sigma(b)(1 - \sigma(b))", (-INF, INF), smooth=True,
          monotonic=False, zero_centred=True, derivative=None, elementwise=False,
          reference="Dauphin et al. 2016, arXiv 1612.08083")


def names(*, elementwise: bool | None = None) -> list[str]:
    """Canonical names of all registered activations (optionally only the (non-)elementwise ones)."""
    return [n for n, info in _REGISTRY.items() if elementwise is None or info.elementwise == elementwise]


def _resolve(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"an activation is named by a string, got {name!r} ({type(name).__name__}); "
                        f"valid names: {', '.join(sorted(_REGISTRY))}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        valid = sorted(_REGISTRY) + sorted(_ALIASES)
        close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown activation {name!r}.{hint} Valid names: {', '.join(sorted(_REGISTRY))} "
                         f"(aliases: {', '.join(f'{a}->{_ALIASES[a]}' for a in sorted(_ALIASES))}).")
    return key


def info(name: str) -> ActivationInfo:
    """The registry entry (function, derivative, metadata) for ``name`` or one of its aliases."""
    return _REGISTRY[_resolve(name)]


def _bound(fn: Callable, name: str, hyperparameters: dict[str, Any]) -> Callable:
    if not hyperparameters:
        return fn
    entry = _REGISTRY[name]
    if isinstance(entry.fn, Elementwise):
        # Validate now, so a bad value fails at get() and not deep inside a training step.
        entry.fn.validate(bind(name, inspect.signature(entry.fn), hyperparameters))
    else:
        unknown = sorted(set(hyperparameters) - set(entry.hyperparameters))
        if unknown:
            raise TypeError(f"{name}() got unknown hyperparameter(s) {unknown}; it takes {list(entry.hyperparameters)}")
        check_types(name, entry.hyperparameters, {**entry.hyperparameters, **hyperparameters})
    bound = functools.partial(fn, **hyperparameters)
    functools.update_wrapper(bound, fn)
    return bound


def get(name: str, **hyperparameters) -> Callable:
    """The activation ``name`` with the given hyperparameters bound, e.g. ``get("elu", alpha=0.5)``.

    Raises ValueError for an unknown name (listing the valid ones and the closest matches) or an
    invalid hyperparameter value, TypeError for an unknown hyperparameter.
    """
    key = _resolve(name)
    return _bound(_REGISTRY[key].fn, key, hyperparameters)


def derivative(name: str, wrt: str = "x", **hyperparameters) -> Callable:
    """The hand-written elementwise derivative of ``name`` as a function of x (hyperparameters bound).

    ``wrt`` is ``"x"`` (default) or a float hyperparameter: ``derivative("elu", wrt="alpha")(x)`` is
    d elu(x; alpha) / d alpha elementwise, the same rule that ``jax.grad`` in alpha uses.
    """
    key = _resolve(name)
    entry = _REGISTRY[key]
    if entry.derivative is None:
        raise ValueError(f"{key!r} is not elementwise: it has a Jacobian, not an elementwise derivative; "
                         f"use jax.jacobian or jax.vjp on jaxacts.get({key!r})")
    allowed = ("x",) + entry.differentiable_hyperparameters
    if wrt not in allowed:
        raise ValueError(f"{key}: cannot differentiate with respect to {wrt!r}; allowed: {list(allowed)}")
    return _bound(functools.partial(entry.fn.derivative, wrt=wrt), key, hyperparameters)


# ----------------------------------------------------------------------------- specs with hyperparameters
#
# Everywhere a name is accepted (training, the depth study, the gallery) an activation may be given with
# hyperparameters, "leaky_relu(negative_slope=0.2)", and in training a value may be a list that is swept
# in one compiled program: "leaky_relu(negative_slope=[0.01, 0.1, 0.2])". In models a float value may be
# learned: "leaky_relu(negative_slope=learn(0.25))" (one value per layer) or
# "leaky_relu(negative_slope=learn(0.25, per_channel))" (one per channel); "learn([0.1, 0.25])" sweeps
# the initial value.


class Learned(float):
    """A hyperparameter value marked as learned by a model: ``learn(0.25)`` or ``learn(0.25, per_channel)``.

    It is its initial value as a float, so validation, sweeps and per-run values treat it as a number;
    ``per_channel`` says whether a layer learns one value per channel (last axis) or one shared value.
    """

    per_channel: bool

    def __new__(cls, value: float, per_channel: bool = False):
        obj = super().__new__(cls, value)
        obj.per_channel = bool(per_channel)
        return obj

    def __repr__(self) -> str:
        return f"learn({float(self)!r}{', per_channel' if self.per_channel else ''})"

    def __reduce__(self):
        return (Learned, (float(self), self.per_channel))


LEARN_OPTIONS = ("per_channel", "shared")


def _learned(text: str, spec: str, key: str):
    """'learn(0.25, per_channel)' -> Learned(0.25, per_channel=True); a [list] gives a tuple (a sweep)."""
    args = split_top_level(text[len("learn("):-1])
    if not args or len(args) > 2 or (len(args) == 2 and args[1] not in LEARN_OPTIONS):
        raise ValueError(f"activation {spec!r}: {key}={text!r}: expected learn(initial value) or "
                         f"learn(initial value, per_channel|shared)")
    value = _literal(args[0], spec, key)
    if isinstance(value, bool):
        raise ValueError(f"activation {spec!r}: {key}: only float hyperparameters can be learned")
    per_channel = len(args) == 2 and args[1] == "per_channel"
    if isinstance(value, tuple):
        return tuple(Learned(v, per_channel) for v in value)
    return Learned(value, per_channel)


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside brackets: 'relu,elu(alpha=0.5),x' -> ['relu', 'elu(alpha=0.5)', 'x']."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced brackets in {text!r}")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise ValueError(f"unbalanced brackets in {text!r}")
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


_NON_FINITE = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}


def _literal(text: str, spec: str, key: str):
    """A value of a spec: a number (an int stays an int), True/False, or a list of numbers (a tuple of floats).

    Non-finite numbers (``inf``, ``nan``, ``1e400``) are rejected here, naming the hyperparameter:
    no activation takes them, and formatted back (``repr(inf)`` is ``inf``) they would not parse.
    """
    import ast

    shown = text.strip()
    if any(item.strip().lower() in _NON_FINITE for item in shown.strip("[]").split(",")):  # a value or a list
        raise ValueError(f"activation {spec!r}: {key}={shown} is not finite; give a finite number")
    try:
        value = ast.literal_eval(shown)
    except (ValueError, SyntaxError):
        raise ValueError(f"activation {spec!r}: {key}={shown!r} is not a number, True/False or [list]") from None
    if isinstance(value, (list, tuple)):
        if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"activation {spec!r}: {key} lists must hold numbers, got {shown!r}")
        if not all(math.isfinite(v) for v in value):
            raise ValueError(f"activation {spec!r}: {key}={shown} holds a value that is not finite; "
                             f"give finite numbers")
        return tuple(float(v) for v in value)
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"activation {spec!r}: {key}={shown} is not finite; give a finite number")
        return value
    raise ValueError(f"activation {spec!r}: {key}={shown!r} is not a number, True/False or [list]")


def _as_declared(name: str, key: str, value):
    """An int literal as a float, unless the activation declares ``key`` an int or a bool hyperparameter:
    there it stays an int, so that ``gelu(approximate=1)`` is rejected like ``gelu(approximate=1.0)``
    (a bool takes only True/False) and ``maxout(num_pieces=2)`` stays 2."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    try:
        default = _REGISTRY[_ALIASES.get(name, name)].hyperparameters.get(key)
    except KeyError:
        default = None  # a name beyond the registry (a model's spelling): numbers are floats
    return value if isinstance(default, int) else float(value)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'elu(alpha=0.5)' -> ('elu', {'alpha': 0.5}); a list value becomes a tuple (a sweep).

    The name is returned as written (lower case, '-' as '_'): models also accept names beyond the
    registry (``prelu_shared``...). Values are numbers, True/False, lists of numbers, or
    ``learn(value)`` / ``learn(value, per_channel)`` (a :class:`Learned` number; a list inside
    ``learn`` gives a tuple of them, a sweep of the initial value).
    """
    if not isinstance(spec, str):
        raise TypeError(f"an activation is given by its name as a string, got {spec!r}")
    text = spec.strip()
    name, _, rest = text.partition("(")
    name = name.strip().lower().replace("-", "_")
    if not name:
        raise ValueError(f"activation {spec!r}: no name before '('")
    hyperparameters: dict[str, Any] = {}
    if rest:
        if not rest.endswith(")"):
            raise ValueError(f"activation {spec!r}: expected name(key=value, ...)")
        for item in split_top_level(rest[:-1]):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key.isidentifier():
                raise ValueError(f"activation {spec!r}: expected key=value, got {item!r}")
            if key in hyperparameters:
                raise ValueError(f"activation {spec!r}: {key} given twice")
            value = value.strip()
            if value.startswith("learn(") and value.endswith(")"):
                hyperparameters[key] = _learned(value, spec, key)
            else:
                hyperparameters[key] = _as_declared(name, key, _literal(value, spec, key))
    _check_declared_kinds(spec, name, hyperparameters)
    return name, hyperparameters


def _check_declared_kinds(spec: str, name: str, hyperparameters: dict[str, Any]) -> None:
    """ValueError for a value of the wrong kind for a registry activation's hyperparameter (a number for
    gelu's bool ``approximate``, True for a float): the spec is text, so its errors are ValueErrors."""
    entry = _REGISTRY.get(_ALIASES.get(name, name))
    if entry is None:
        return
    defaults = entry.hyperparameters
    for key, value in hyperparameters.items():
        if key not in defaults:
            continue  # an unknown name is reported by get(), with the valid ones
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, Learned):
                continue  # whether it may be learned is the model's check
            try:
                check_types(entry.name, {key: defaults[key]}, {key: v})
            except TypeError as e:
                raise ValueError(f"activation {spec!r}: {e}") from None


def format_spec(name: str, hyperparameters: dict[str, Any]) -> str:
    """The inverse of :func:`parse_spec`: ('elu', {'alpha': 0.5}) -> 'elu(alpha=0.5)'."""
    if not hyperparameters:
        return name
    def show(v):
        if isinstance(v, tuple) and v and isinstance(v[0], Learned):
            return f"learn([{', '.join(repr(float(u)) for u in v)}]{', per_channel' if v[0].per_channel else ''})"
        return "[" + ", ".join(map(repr, v)) + "]" if isinstance(v, tuple) else repr(v)

    return f"{name}(" + ", ".join(f"{k}={show(v)}" for k, v in hyperparameters.items()) + ")"


def expand_spec(spec: str) -> list[str]:
    """Every setting of a spec with swept (list) values, in row-major order:
    'elu(alpha=[0.5, 1.0])' -> ['elu(alpha=0.5)', 'elu(alpha=1.0)']."""
    import itertools

    name, hp = parse_spec(spec)
    keys = list(hp)
    grids = [hp[k] if isinstance(hp[k], tuple) else (hp[k],) for k in keys]
    return [format_spec(name, dict(zip(keys, values))) for values in itertools.product(*grids)]


def get_spec(spec: str) -> Callable:
    """The activation a single-setting spec names, hyperparameters bound and validated:
    ``get_spec("leaky_relu(negative_slope=0.2)")`` is ``get("leaky_relu", negative_slope=0.2)``."""
    name, hp = parse_spec(spec)
    swept = [k for k, v in hp.items() if isinstance(v, tuple)]
    if swept:
        raise ValueError(f"activation {spec!r}: a list value ({', '.join(swept)}) is a sweep, accepted by training only")
    learned = [k for k, v in hp.items() if isinstance(v, Learned)]
    if learned:
        raise ValueError(f"activation {spec!r}: learn(...) ({', '.join(learned)}) marks a value learned by a model; "
                         f"here give a number")
    return get(name, **hp)
