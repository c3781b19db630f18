"""Activation specs, the text that names an activation with its hyperparameters: ``elu(alpha=0.5)``, a
sweep ``elu(alpha=[0.5, 1.0])``, learned values ``leaky_relu(negative_slope=learn(0.25, per_channel))``;
parsing, formatting, expanding sweeps, and splitting lists of specs at top-level commas."""

from jaxacts._src.registry import Learned, expand_spec, format_spec, get_spec, parse_spec, split_top_level

__all__ = ["Learned", "expand_spec", "format_spec", "get_spec", "parse_spec", "split_top_level"]
