"""Weight initializers by name and the weight-variance gain each implies."""

from jaxacts._src.init import (DISTRIBUTIONS, INITIALIZERS, distribution, initializer, unit_sample, weight_std,
                               weight_variance_gain)

__all__ = ["DISTRIBUTIONS", "INITIALIZERS", "distribution", "initializer", "unit_sample", "weight_std",
           "weight_variance_gain"]
