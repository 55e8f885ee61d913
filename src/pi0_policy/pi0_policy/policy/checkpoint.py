"""The project's checkpoint format: the directory's files, read and validated, and written.

A checkpoint is a directory with four files:

- ``model.safetensors`` — the π0 weights in the project's key layout (openpi's PyTorch names,
  no prefix: ``paligemma_with_expert.…``, ``state_proj.…``, ``action_in_proj.…``, …);
- ``config.json`` — ``{"format": "pi0_ros", "format_version": 1, "preset": name, "model": {full
  Pi0Config}, "state_dim", "action_dim", "image_keys": [...], "norm_eps", "source": {...}}``;
  ``"model"`` wins over ``"preset"`` when both are given; a hand-written file may give only
  ``"preset"``;
- ``tokenizer.model`` — the SentencePiece model of the prompt tokenizer;
- ``norm_stats.json`` — openpi's format (see `pi0_policy.policy.normalize`).

`read_checkpoint` validates the directory without touching the weights. A tokenizer file and
norm stats given explicitly replace the directory's own (and make them optional; one helper,
`resolve_tokenizer` / `resolve_norm_stats`, for this format and the external ones). Missing file →
``FileNotFoundError`` naming it; bad content (JSON, dims, an unknown preset) → ``ValueError``
naming the file and the problem.

Layering: this module knows only its own format. `pi0_policy.policy.external` reads LeRobot and
openpi directories (and converts them into this format); `pi0_policy.policy.loading` sits above
both (format detection, building the model from either kind); random-weight checkpoints for
demos and tests are in `pi0_policy.policy.demo_checkpoint`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pi0_policy.model.config import IMAGE_KEYS, Pi0Config, get_config
from pi0_policy.policy.normalize import EPS, NormStats, check_eps, load_norm_stats, save_norm_stats
from pi0_policy.policy.tokenizer import PromptTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.model"
NORM_STATS_FILE = "norm_stats.json"
FORMAT = "pi0_ros"
FORMAT_VERSION = 1
DEFAULT_IMAGE_KEYS = IMAGE_KEYS


@dataclass(frozen=True)
class CheckpointInfo:
    """Everything a checkpoint directory says, validated; the weights are not read."""

    path: Path
    config: Pi0Config
    state_dim: int
    action_dim: int
    image_keys: tuple[str, ...]
    norm_stats: dict[str, NormStats]
    norm_eps: float
    tokenizer_path: Path
    weights_path: Path
    source: dict = field(default_factory=dict)

    def tokenizer(self) -> PromptTokenizer:
        return PromptTokenizer(self.tokenizer_path, max_length=self.config.max_token_len)


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; FileNotFoundError / ValueError naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"missing checkpoint file: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _model_config(data: Mapping, where: Path) -> Pi0Config:
    try:
        if isinstance(data.get("model"), Mapping):
            return Pi0Config.from_dict(dict(data["model"]))
        if isinstance(data.get("preset"), str):
            return get_config(data["preset"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: bad model configuration: {error}") from error
    raise ValueError(f"{where}: needs a 'model' object (a full Pi0Config) or a 'preset' name")


def _positive_int(data: Mapping, key: str, where: Path) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: '{key}' must be a positive integer, got {value!r}")
    return value


def check_dims(state_dim, action_dim, where) -> None:
    """Both dims positive integers; ValueError naming ``where`` otherwise."""
    for name, dim in (("state_dim", state_dim), ("action_dim", action_dim)):
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim <= 0:
            raise ValueError(f"{where}: {name} must be a positive integer, got {dim!r}")


def validate(
    config: Pi0Config,
    state_dim: int,
    action_dim: int,
    image_keys: tuple[str, ...],
    norm_stats: Mapping[str, NormStats],
    where: Path | str,
) -> None:
    """Check that dims, camera keys and statistics fit the model config; ValueError naming them."""
    check_dims(state_dim, action_dim, where)
    if state_dim > config.max_state_dim:
        raise ValueError(f"{where}: state_dim {state_dim} > the model's max_state_dim {config.max_state_dim}")
    if action_dim > config.max_action_dim:
        raise ValueError(
            f"{where}: action_dim {action_dim} > the model's max_action_dim {config.max_action_dim}"
        )
    if len(image_keys) != config.num_cameras or len(set(image_keys)) != len(image_keys):
        raise ValueError(
            f"{where}: image_keys {list(image_keys)} must be {config.num_cameras} distinct names "
            f"(the model's num_cameras)"
        )
    for key, dim in (("state", state_dim), ("actions", action_dim)):
        if key not in norm_stats:
            raise ValueError(f"{where}: norm stats lack {key!r}")
        if norm_stats[key].dim < dim:
            raise ValueError(f"{where}: norm stats {key!r} have {norm_stats[key].dim} dims, need {dim}")


def resolve_tokenizer(given: str | Path | None, directory: Path, hint: str = "give one with tokenizer=...") -> Path:
    """The tokenizer file: ``given`` if set, else the directory's tokenizer.model; must exist."""
    path = Path(given) if given is not None else directory / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path} ({hint})")
    return path


def resolve_norm_stats(given: str | Path | Mapping | None, default) -> dict[str, NormStats] | None:
    """The statistics: ``given`` (a norm_stats.json path or a ``{"state", "actions"}`` mapping of
    `NormStats`) if set, else ``default()`` (the directory's own; may return None)."""
    if isinstance(given, Mapping):
        return dict(given)
    if given is not None:
        return load_norm_stats(given)
    return default()


def read_checkpoint(
    path: str | Path, tokenizer: str | Path | None = None, norm_stats: str | Path | Mapping | None = None
) -> CheckpointInfo:
    """Read and validate a project checkpoint directory (see module doc); weights are not loaded.

    ``tokenizer``: a SentencePiece file to use instead of the directory's tokenizer.model.
    ``norm_stats``: a norm_stats.json path or a ``{"state", "actions"}`` mapping of `NormStats`.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {path}")
    config_path = path / CONFIG_FILE
    data = read_json(config_path)
    if data.get("format", FORMAT) != FORMAT:
        raise ValueError(f"{config_path}: format {data.get('format')!r} is not {FORMAT!r}; convert it first")
    config = _model_config(data, config_path)
    state_dim = _positive_int(data, "state_dim", config_path)
    action_dim = _positive_int(data, "action_dim", config_path)
    image_keys = data.get("image_keys", list(DEFAULT_IMAGE_KEYS))
    if not isinstance(image_keys, list) or not all(isinstance(k, str) and k for k in image_keys):
        raise ValueError(f"{config_path}: 'image_keys' must be a list of camera names, got {image_keys!r}")
    image_keys = tuple(image_keys)
    try:
        norm_eps = check_eps(data.get("norm_eps", EPS))
    except ValueError as error:
        raise ValueError(f"{config_path}: {error}") from error
    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"missing checkpoint file: {weights_path}")
    tokenizer_path = resolve_tokenizer(tokenizer, path)
    stats = resolve_norm_stats(norm_stats, lambda: load_norm_stats(path / NORM_STATS_FILE))
    validate(config, state_dim, action_dim, image_keys, stats, config_path)
    return CheckpointInfo(
        path=path,
        config=config,
        state_dim=state_dim,
        action_dim=action_dim,
        image_keys=image_keys,
        norm_stats=stats,
        norm_eps=norm_eps,
        tokenizer_path=tokenizer_path,
        weights_path=weights_path,
        source=dict(data.get("source") or {}),
    )


def save_checkpoint(
    path: str | Path,
    model_or_state_dict,
    config: Pi0Config,
    state_dim: int,
    action_dim: int,
    tokenizer: str | Path,
    norm_stats: Mapping[str, NormStats],
    image_keys: tuple[str, ...] = DEFAULT_IMAGE_KEYS,
    norm_eps: float = EPS,
    source: Mapping[str, Any] | None = None,
) -> Path:
    """Write a project checkpoint directory (created if needed; its four files are overwritten).

    ``model_or_state_dict``: a `Pi0Model` or a state dict in the project's key layout (written
    as is; `pi0_policy.policy.external` checks converted ones against the config first).
    ``tokenizer``: path of the SentencePiece model to copy in.
    """
    from safetensors.torch import save_file

    from pi0_policy.model.weights import save_weights

    path = Path(path)
    image_keys = tuple(image_keys)
    validate(config, state_dim, action_dim, image_keys, norm_stats, path)
    tokenizer = Path(tokenizer)
    if not tokenizer.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {tokenizer}")
    path.mkdir(parents=True, exist_ok=True)
    if isinstance(model_or_state_dict, Mapping):
        save_file(dict(model_or_state_dict), str(path / WEIGHTS_FILE))
    else:
        save_weights(model_or_state_dict, path / WEIGHTS_FILE)
    if tokenizer.resolve() != (path / TOKENIZER_FILE).resolve():
        shutil.copyfile(tokenizer, path / TOKENIZER_FILE)
    save_norm_stats(path / NORM_STATS_FILE, norm_stats)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "preset": config.name,
        "state_dim": int(state_dim),
        "action_dim": int(action_dim),
        "image_keys": list(image_keys),
        "norm_eps": check_eps(norm_eps),
        "source": dict(source or {}),
        "model": config.to_dict(),
    }
    (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return path


# Moved to `loading` (above this module and `external`) and `demo_checkpoint` (random weights);
# forwarded on first use, for callers written before the move.
_MOVED = {"load_checkpoint": "loading", "make_random_checkpoint": "demo_checkpoint",
          "random_norm_stats": "demo_checkpoint"}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"pi0_policy.policy.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
