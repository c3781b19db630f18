"""Mean-field theory: the SELU map, the signal-propagation maps, fixed points and self-normalizing constants."""

from jaxacts._src.theory import (
    SelfNormalizingVariant,
    alpha_dropout_affine,
    chi_1,
    edge_of_chaos,
    fixed_point_second_moment,
    gaussian_expectation,
    iterate_map,
    map_jacobian,
    mean_field_map,
    pooled_layer,
    predict_layers,
    self_normalizing_variant,
    selu_constants,
    selu_constants_formula,
    selu_map_closed_form,
    spectral_norm,
)

__all__ = [
    "SelfNormalizingVariant", "alpha_dropout_affine", "chi_1", "edge_of_chaos", "fixed_point_second_moment",
    "gaussian_expectation", "iterate_map", "map_jacobian", "mean_field_map", "pooled_layer", "predict_layers",
    "self_normalizing_variant", "selu_constants", "selu_constants_formula", "selu_map_closed_form", "spectral_norm",
]
