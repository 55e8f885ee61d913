"""openpi's observation layouts (ALOHA, LIBERO, DROID) → the project's model-space observation.

One table, ``layouts.yaml`` (data, not code): per layout, which openpi key holds which model
image, and which keys make up the state. `to_model_space(obs, image_keys)` accepts either the
project's own layout (what `Pi0Policy.infer` takes: ``images`` keyed by model image names) or an
openpi layout, recognised by its image names; images in [3, H, W] are turned into [H, W, 3].
Unknown layouts raise ``ValueError`` naming the keys seen and the layouts known.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

LAYOUTS_FILE = Path(__file__).with_name("layouts.yaml")
RAW = "raw"
PASSTHROUGH = ("prompt", "noise")


@lru_cache(maxsize=1)
def load_layouts() -> dict[str, dict]:
    return yaml.safe_load(LAYOUTS_FILE.read_text())


def _hwc(image: Any, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
        image = image.transpose(1, 2, 0)
    if image.ndim != 3:
        raise ValueError(f"image {name!r}: expected [H, W, 3] or [3, H, W], got shape {image.shape}")
    return image


def detect(obs: Mapping, image_keys) -> str:
    """The layout of ``obs``: ``"raw"`` or a name of ``layouts.yaml``; ValueError if none fits."""
    if not isinstance(obs, Mapping):
        raise ValueError(f"observation must be a map, got {type(obs).__name__}")
    images = obs.get("images")
    if isinstance(images, Mapping) and images and set(images) <= set(image_keys):
        return RAW
    for name, layout in load_layouts().items():
        source = obs.get(layout["images_in"]) if "images_in" in layout else obs
        if isinstance(source, Mapping) and set(layout["images"]) & set(source):
            return name
    seen = sorted(images) if isinstance(images, Mapping) else sorted(map(str, obs))
    raise ValueError(f"observation layout not recognised (keys {seen}): send images keyed by "
                     f"{list(image_keys)} or use an openpi layout: {sorted(load_layouts())}")


def to_model_space(obs: Mapping, image_keys, layout: str = "auto") -> dict:
    """``obs`` in ``layout`` ("auto" detects it) as the observation `Pi0Policy.infer` takes."""
    layout = detect(obs, image_keys) if layout == "auto" else layout
    if layout == RAW:
        return dict(obs)
    spec = load_layouts().get(layout)
    if spec is None:
        raise ValueError(f"unknown layout {layout!r}: choose auto, raw or one of {sorted(load_layouts())}")
    source = obs.get(spec["images_in"], {}) if "images_in" in spec else obs
    images = {model_key: _hwc(source[key], key) for key, model_key in spec["images"].items() if key in source}
    missing = [key for key in spec["state"] if key not in obs]
    if missing:
        raise ValueError(f"{layout} observation: missing state key(s) {missing}")
    state = np.concatenate([np.atleast_1d(np.asarray(obs[key], dtype=np.float32)) for key in spec["state"]])
    out = {"images": images, "state": state}
    out.update({key: obs[key] for key in PASSTHROUGH if key in obs})
    out.setdefault("prompt", "")
    return out
