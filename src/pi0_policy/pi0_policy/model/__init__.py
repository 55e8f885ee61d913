"""The π0 network: config presets, the model, weight loading (see docs/design.md, pi0_policy.model)."""
from .config import GemmaSpec, Pi0Config, VisionSpec, get_config, list_configs
from .pi0 import ObservationCache, Pi0Model
from .weights import WeightsError, build_model, load_weights, save_weights

__all__ = [
    "GemmaSpec", "ObservationCache", "Pi0Config", "Pi0Model", "VisionSpec", "WeightsError",
    "build_model", "get_config", "list_configs", "load_weights", "save_weights",
]
