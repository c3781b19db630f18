"""Per-layer statistics of deep random networks (the empirical side of the depth study)."""

from jaxacts._src.probe import (ARCHITECTURES, DROPOUTS, REMAT_ABOVE_BYTES, ProbeConfig, ProbeParams, ProbeShape,
                                layer_stats, network_stats, probe_params, probe_shape, residual_bytes,
                                seeded_layer_stats, seeded_network_stats, split_activation)

__all__ = ["ARCHITECTURES", "DROPOUTS", "REMAT_ABOVE_BYTES", "ProbeConfig", "ProbeParams", "ProbeShape",
           "layer_stats", "network_stats", "probe_params", "probe_shape", "residual_bytes", "seeded_layer_stats",
           "seeded_network_stats", "split_activation"]
