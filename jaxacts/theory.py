"""Mean-field and finite-width theory of deep random networks: the SELU map, the signal-propagation maps,
fixed points, self-normalizing constants, and the finite-width chain of the per-layer second moment (the
spread of log q and of gradient norms across networks)."""

from jaxacts._src.theory import (
    FiniteWidthNetwork,
    ScaledActivation,
    SelfNormalizingVariant,
    alpha_dropout_affine,
    chi_1,
    correlation_map,
    describe_batch,
    edge_of_chaos,
    finite_width_layers,
    finite_width_many,
    fixed_point_second_moment,
    gaussian_expectation,
    iterate_map,
    map_jacobian,
    mean_field_map,
    pooled_layer,
    predict_layers,
    second_moment_increment,
    self_normalizing_variant,
    selu_constants,
    selu_constants_formula,
    selu_map_closed_form,
    simulate_gram_chain,
    simulate_second_moment_chain,
    skip_finite_width_layers,
    spectral_norm,
)

__all__ = [
    "FiniteWidthNetwork", "ScaledActivation", "SelfNormalizingVariant", "alpha_dropout_affine", "chi_1",
    "correlation_map", "describe_batch", "edge_of_chaos", "finite_width_layers", "finite_width_many",
    "fixed_point_second_moment", "gaussian_expectation", "iterate_map", "map_jacobian", "mean_field_map",
    "pooled_layer", "predict_layers", "second_moment_increment", "self_normalizing_variant", "selu_constants",
    "selu_constants_formula", "selu_map_closed_form", "simulate_gram_chain", "simulate_second_moment_chain",
    "skip_finite_width_layers", "spectral_norm",
]
