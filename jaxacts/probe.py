"""Per-layer statistics of deep random networks (the empirical side of the depth study)."""

from jaxacts._src.probe import ARCHITECTURES, DROPOUTS, ProbeConfig, layer_stats, seeded_layer_stats

__all__ = ["ARCHITECTURES", "DROPOUTS", "ProbeConfig", "layer_stats", "seeded_layer_stats"]
