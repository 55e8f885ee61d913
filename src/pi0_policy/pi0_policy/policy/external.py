"""LeRobot and openpi π0 checkpoint directories: read in place (`read_external`, typed
`ExternalInfo`), or converted into the project's format (`convert_checkpoint`). Format detection
and model building for any kind are in `pi0_policy.policy.loading`.

LeRobot (``lerobot/pi0``-style, from ``save_pretrained``):
    config.json (``"type": "pi0"``; input/output features give the camera keys, state and action
    dims; chunk_size, max_state_dim, tokenizer_max_length, ... override the preset),
    model.safetensors (keys with a leading ``model.``), the normalisation statistics in
    ``policy_preprocessor_step_*_normalizer_processor.safetensors`` (``observation.state.mean``,
    ``.std``, ...) and ``policy_postprocessor_step_*_unnormalizer_processor.safetensors``
    (``action.mean``, ...), the normaliser's eps in ``policy_preprocessor.json`` (default 1e-8).
    No tokenizer: LeRobot fetches PaliGemma's from the Hub, so give one (``tokenizer=``).
openpi (its JAX → PyTorch converter's output):
    model.safetensors (no prefix), config.json (optional), ``assets/<robot>/norm_stats.json``.
    No tokenizer either; state/action dims default to the statistics' dims.

The network sizes come from ``preset`` or, when None, from the preset whose tensor shapes match
the weights file (after the config's overrides). An explicit ``norm_stats`` (a norm_stats.json)
replaces the directory's statistics. Every mismatch is a ValueError naming the file and keys.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from pi0_policy.model import weights
from pi0_policy.model.config import Pi0Config, get_config, list_configs
from pi0_policy.policy import checkpoint as ckpt
from pi0_policy.policy.normalize import NormStats, load_norm_stats

LEROBOT_EPS = 1e-8
OPENPI_EPS = 1e-6
LEROBOT_IMAGE_PREFIX = "observation.images."
# LeRobot PI0Config field → Pi0Config field.
LEROBOT_OVERRIDES = {
    "chunk_size": "action_horizon",
    "max_state_dim": "max_state_dim",
    "max_action_dim": "max_action_dim",
    "tokenizer_max_length": "max_token_len",
    "num_inference_steps": "num_steps",
    "min_period": "min_period",
    "max_period": "max_period",
    "time_sampling_beta_alpha": "time_beta_alpha",
    "time_sampling_beta_beta": "time_beta_beta",
    "time_sampling_scale": "time_scale",
    "time_sampling_offset": "time_offset",
}
SUPPORTED_NORMALIZATION = ("MEAN_STD", "IDENTITY")


@dataclass(frozen=True)
class ExternalInfo:
    """What a LeRobot or openpi directory says, before matching the weights to a config.

    ``overrides``: Pi0Config fields set by the directory (e.g. ``num_steps`` from LeRobot's
    ``num_inference_steps``); ``state_dim``/``action_dim``: None when the directory does not say
    (openpi: taken from the statistics); ``norm_stats``: None when it has none (or, openpi,
    several: ``norm_stats_found`` lists them).
    """

    kind: str
    overrides: dict
    state_dim: int | None
    action_dim: int | None
    image_keys: tuple[str, ...]
    norm_stats: dict[str, NormStats] | None
    norm_eps: float
    norm_stats_found: tuple[str, ...] = ()


def external_kind(path: Path) -> str | None:
    """ "lerobot" or "openpi" for such a directory, None for anything else (the project's format).

    config.json with a ``"type"`` (or any policy_preprocessor*.json) → LeRobot (a type other than
    "pi0" is a ValueError); any other config.json without ``"format": "pi0_ros"``, or none but an
    ``assets/`` folder → openpi.
    """
    config_path = path / ckpt.CONFIG_FILE
    data = ckpt.read_json(config_path) if config_path.is_file() else None
    if data is not None and data.get("format") == ckpt.FORMAT:
        return None
    if (data is not None and "type" in data) or any(path.glob("policy_preprocessor*.json")):
        if (data or {}).get("type", "pi0") != "pi0":
            raise ValueError(f"{config_path}: LeRobot policy type {data['type']!r} is not 'pi0'")
        return "lerobot"
    if data is not None or (path / "assets").is_dir():
        return "openpi"
    return None


def __getattr__(name: str):
    # detect_format moved to `loading` (above this module); forwarded for earlier callers.
    if name == "detect_format":
        from pi0_policy.policy.loading import detect_format

        return detect_format
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------- weights
def _meta_model(config: Pi0Config):
    from pi0_policy.model.pi0 import Pi0Model

    with torch.device("meta"):
        return Pi0Model(config)


def match_config(weights_path: Path, preset: str | None, overrides: Mapping) -> tuple[Pi0Config, dict]:
    """The config (``preset`` or the first preset that fits) and its model name → file key map."""
    shapes = weights.file_shapes(weights_path)
    candidates = [preset] if preset else list_configs()
    report = []
    for name in candidates:
        config = get_config(name, **overrides)
        mapping, problems = weights.match_keys(shapes, _meta_model(config))
        if not problems:
            return config, mapping
        report.append(f"{name}: " + "; ".join(p[:300] for p in problems))
    raise ValueError(f"{weights_path} fits no π0 config:\n  " + "\n  ".join(report))


def read_weights(weights_path: Path, mapping: Mapping[str, str], progress: bool = True) -> dict:
    """Tensors under the project's names, one by one with a progress bar."""
    from safetensors import safe_open
    from tqdm import tqdm

    out = {}
    with safe_open(str(weights_path), framework="pt", device="cpu") as f:
        for name, key in tqdm(mapping.items(), desc="converting", unit="tensor", disable=not progress):
            out[name] = f.get_tensor(key).contiguous()
    return out


# ---------------------------------------------------------------------------------- LeRobot
def _load_safetensors_dicts(paths) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    merged = {}
    for path in paths:
        merged.update(load_file(str(path)))
    return merged


def _stats_from_flat(flat: Mapping[str, np.ndarray], feature: str, where: str) -> NormStats:
    fields = {name: flat.get(f"{feature}.{name}") for name in ("mean", "std", "q01", "q99")}
    if fields["mean"] is None or fields["std"] is None:
        raise ValueError(
            f"{where}: no '{feature}.mean'/'{feature}.std' statistics (keys: {sorted(flat)[:20]})"
        )
    return NormStats(
        **{k: None if v is None else np.asarray(v, np.float32).reshape(-1) for k, v in fields.items()}
    )


def _lerobot_eps(path: Path) -> float:
    for processor in sorted(path.glob("policy_preprocessor*.json")):
        for step in ckpt.read_json(processor).get("steps", []):
            if "normalizer" in str(step.get("registry_name", "")) and "eps" in step.get("config", {}):
                return float(step["config"]["eps"])
    return LEROBOT_EPS


def read_lerobot(path: Path) -> ExternalInfo:
    """What a LeRobot pi0 directory says: overrides, dims, image keys, statistics, eps."""
    config_path = path / ckpt.CONFIG_FILE
    data = ckpt.read_json(config_path)
    if data.get("use_relative_actions"):
        # Its actions are offsets from the state that LeRobot adds back outside the model; taken
        # for absolute targets they would command the wrong positions.
        raise ValueError(
            f"{config_path}: use_relative_actions=true is not supported (relative action chunks)"
        )
    inputs, outputs = data.get("input_features") or {}, data.get("output_features") or {}
    try:
        state_dim = int(inputs["observation.state"]["shape"][0])
        action_dim = int(outputs["action"]["shape"][0])
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ValueError(
            f"{config_path}: no observation.state / action feature shapes ({error!r})"
        ) from error
    image_keys = [k[len(LEROBOT_IMAGE_PREFIX) :] for k in inputs if k.startswith(LEROBOT_IMAGE_PREFIX)]
    image_keys += [f"empty_camera_{i}" for i in range(int(data.get("empty_cameras", 0)))]
    overrides = {ours: data[theirs] for theirs, ours in LEROBOT_OVERRIDES.items() if theirs in data}
    overrides["num_cameras"] = len(image_keys)
    mapping = data.get("normalization_mapping") or {}
    stats_files = sorted(path.glob("policy_preprocessor*.safetensors")) + sorted(
        path.glob("policy_postprocessor*.safetensors")
    )
    flat = _load_safetensors_dicts(stats_files)
    stats = {}
    for ours, feature, kind, dim in (
        ("state", "observation.state", "STATE", state_dim),
        ("actions", "action", "ACTION", action_dim),
    ):
        mode = mapping.get(kind, "MEAN_STD")
        if mode not in SUPPORTED_NORMALIZATION:
            raise ValueError(
                f"{config_path}: normalization_mapping.{kind} = {mode!r}; "
                f"supported: {SUPPORTED_NORMALIZATION}"
            )
        if mode == "IDENTITY":
            stats[ours] = NormStats.identity(dim)
        elif flat:
            stats[ours] = _stats_from_flat(flat, feature, f"{path}/policy_*processor*.safetensors")
    return ExternalInfo(kind="lerobot", overrides=overrides, state_dim=state_dim, action_dim=action_dim,
                        image_keys=tuple(image_keys), norm_stats=stats if len(stats) == 2 else None,
                        norm_eps=_lerobot_eps(path))


# ---------------------------------------------------------------------------------- openpi
def read_openpi(path: Path) -> ExternalInfo:
    """What an openpi converted directory says.

    config.json (optional, written by openpi's converter): ``action_dim`` (the padded width of
    state and actions), ``action_horizon``, ``max_token_len``; ``"pi05": true`` is rejected.
    Statistics: the one ``assets/<asset id>/norm_stats.json`` (the id may nest, as pi0_aloha_sim's
    ``lerobot/aloha_sim_transfer_cube_human``; several: none is chosen).
    """
    config_path = path / ckpt.CONFIG_FILE
    data = ckpt.read_json(config_path) if config_path.is_file() else {}
    if data.get("pi05"):
        raise ValueError(f'{config_path}: a π0.5 checkpoint ("pi05": true); only π0 is supported')
    overrides = {}
    try:
        if "action_dim" in data:
            overrides["max_action_dim"] = overrides["max_state_dim"] = int(data["action_dim"])
        for key in ("action_horizon", "max_token_len"):
            if key in data:
                overrides[key] = int(data[key])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{config_path}: {error}") from error
    found = sorted(path.glob("assets/**/norm_stats.json"))  # asset ids may nest: lerobot/aloha_sim_...
    return ExternalInfo(kind="openpi", overrides=overrides, state_dim=None, action_dim=None,
                        image_keys=tuple(ckpt.DEFAULT_IMAGE_KEYS),
                        norm_stats=load_norm_stats(found[0]) if len(found) == 1 else None,
                        norm_eps=OPENPI_EPS, norm_stats_found=tuple(str(p.relative_to(path)) for p in found))


# ---------------------------------------------------------------------------------- read / convert
def read_external(
    src: str | Path,
    tokenizer: str | Path | None = None,
    norm_stats: str | Path | Mapping | None = None,
    preset: str | None = None,
    state_dim: int | None = None,
    action_dim: int | None = None,
) -> tuple[ckpt.CheckpointInfo, dict[str, str]]:
    """A LeRobot or openpi directory as a validated `CheckpointInfo`, plus the weight name map.

    ``tokenizer``: the SentencePiece file (required unless ``src`` has a tokenizer.model).
    ``norm_stats``: a norm_stats.json (or mapping) replacing the directory's statistics (required
    if it has none). ``state_dim``/``action_dim``: override the dims read from ``src`` (openpi:
    the statistics' dims).
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {src}")
    kind = external_kind(src)
    if kind is None:
        raise ValueError(f"{src} is already in the project's format (or not a LeRobot/openpi directory)")
    info = read_lerobot(src) if kind == "lerobot" else read_openpi(src)
    weights_path = src / ckpt.WEIGHTS_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"missing checkpoint file: {weights_path}")
    tokenizer = ckpt.resolve_tokenizer(tokenizer, src, f"{kind} checkpoints have none: give one")
    stats = ckpt.resolve_norm_stats(norm_stats, lambda: info.norm_stats)
    if stats is None and len(info.norm_stats_found) > 1:
        raise ValueError(f"{src}: several norm stats files {list(info.norm_stats_found)}; choose one")
    if stats is None:
        raise FileNotFoundError(f"{src} has no normalisation statistics; give a norm_stats.json")
    state_dim = state_dim or info.state_dim or stats["state"].dim
    action_dim = action_dim or info.action_dim or stats["actions"].dim
    config, mapping = match_config(weights_path, preset, info.overrides)
    ckpt.validate(config, state_dim, action_dim, info.image_keys, stats, src)
    source = {
        "kind": kind,
        "path": str(src.resolve()),
        "preset_matched": config.name,
        "overrides": json.loads(json.dumps(info.overrides)),
    }
    checkpoint = ckpt.CheckpointInfo(
        path=src,
        config=config,
        state_dim=state_dim,
        action_dim=action_dim,
        image_keys=info.image_keys,
        norm_stats=stats,
        norm_eps=info.norm_eps,
        tokenizer_path=tokenizer,
        weights_path=weights_path,
        source=source,
    )
    return checkpoint, mapping


def convert_checkpoint(
    src: str | Path,
    dst: str | Path,
    tokenizer: str | Path | None = None,
    norm_stats: str | Path | None = None,
    preset: str | None = None,
    state_dim: int | None = None,
    action_dim: int | None = None,
    progress: bool = True,
) -> Path:
    """Convert a LeRobot or openpi π0 directory ``src`` into a project checkpoint at ``dst``.

    Arguments as `read_external`; the tensors keep their dtype and are renamed to the project's
    layout (the LM heads, which π0 never uses, are dropped).
    """
    info, mapping = read_external(src, tokenizer, norm_stats, preset, state_dim, action_dim)
    tensors = read_weights(info.weights_path, mapping, progress=progress)
    return ckpt.save_checkpoint(
        dst,
        tensors,
        info.config,
        info.state_dim,
        info.action_dim,
        info.tokenizer_path,
        info.norm_stats,
        image_keys=info.image_keys,
        norm_eps=info.norm_eps,
        source=info.source,
    )


def describe_config_diff(config: Pi0Config) -> dict:
    """The fields of ``config`` that differ from its preset (for `pi0 checkpoint inspect`)."""
    try:
        base = get_config(config.name)
    except KeyError:
        return config.to_dict()
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(base, f.name)
    }
