"""Weight initializers by name and the weight-variance gain each implies."""

from jaxacts._src.init import INITIALIZERS, initializer, weight_variance_gain

__all__ = ["INITIALIZERS", "initializer", "weight_variance_gain"]
