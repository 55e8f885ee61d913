"""Loading any supported checkpoint directory: format detection, then reading either kind.

Sits above `pi0_policy.policy.checkpoint` (the project's format) and
`pi0_policy.policy.external` (LeRobot and openpi directories), which do not import each other
for loading: `detect_format` tells the kinds apart, `read_any` validates a directory of any kind
into a `CheckpointInfo` without touching the weights, and `load_checkpoint` builds the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from pi0_policy.policy import checkpoint as ckpt
from pi0_policy.policy import external
from pi0_policy.policy.tokenizer import PromptTokenizer


def detect_format(path: str | Path) -> str:
    """ "pi0_ros", "lerobot" or "openpi" for a checkpoint directory.

    config.json with ``"format": "pi0_ros"`` → the project's; otherwise what
    `external.external_kind` recognises (LeRobot: a ``"type"`` or a policy_preprocessor*.json;
    openpi: any other config.json, or an ``assets/`` folder). Anything else is taken for a
    project checkpoint, so that loading it names the missing file.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {path}")
    return external.external_kind(path) or ckpt.FORMAT


def read_any(path: str | Path, tokenizer: str | Path | None = None,
             norm_stats: str | Path | Mapping | None = None) -> ckpt.CheckpointInfo:
    """A validated `CheckpointInfo` for a directory of any supported kind (weights not read)."""
    if detect_format(path) == ckpt.FORMAT:
        return ckpt.read_checkpoint(path, tokenizer=tokenizer, norm_stats=norm_stats)
    return external.read_external(path, tokenizer=tokenizer, norm_stats=norm_stats)[0]


def check_tokenizer_fits(info: ckpt.CheckpointInfo) -> PromptTokenizer:
    """The checkpoint's tokenizer; ValueError if it has more pieces than the model's vocabulary."""
    tok = info.tokenizer()
    if tok.vocab_size > info.config.vocab_size:
        raise ValueError(
            f"{info.tokenizer_path}: tokenizer has {tok.vocab_size} pieces, more than the model's "
            f"vocab_size {info.config.vocab_size}"
        )
    return tok


def load_checkpoint(
    path: str | Path,
    device: str = "cpu",
    dtype: str = "float32",
    tokenizer: str | Path | None = None,
    norm_stats: str | Path | Mapping | None = None,
):
    """``(model, info, tokenizer)``: the π0 model with the checkpoint's weights, in eval mode.

    ``path``: the project's format, or a LeRobot or openpi directory read in place (its network
    sizes matched from the weights; ``tokenizer``/``norm_stats`` as those need).
    """
    from pi0_policy.model.weights import build_model

    info = read_any(path, tokenizer=tokenizer, norm_stats=norm_stats)
    tok = check_tokenizer_fits(info)
    model = build_model(info.config, dtype=dtype, device=device, weights=info.weights_path)
    return model, info, tok
