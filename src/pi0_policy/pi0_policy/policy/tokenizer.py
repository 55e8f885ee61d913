"""Prompt → token ids in PaliGemma's format, over a SentencePiece model file.

Format (openpi's ``PaligemmaTokenizer``, LeRobot's pi0 processor): ``[BOS] + ids(clean(text)) +
ids("\\n")``, right-padded with the pad id (0 in Gemma's vocabulary) to ``max_length`` (48 for
π0), with a mask that is True on real tokens. ``clean`` strips surrounding whitespace and turns
``_`` and newlines into spaces, as openpi does.

Too-long prompts are TRUNCATED to ``max_length`` tokens with a warning, logged once per prompt
(openpi's behaviour: a robot keeps running on a long instruction); ``overflow="error"`` raises
ValueError instead.

The package ships a demo tokenizer (`demo_tokenizer_path()`): a 512-piece SentencePiece model
with Gemma's special ids (pad 0, eos 1, bos 2, unk 3), for random-weight demo checkpoints and
tests. Real π0 checkpoints need PaliGemma's 257,152-piece tokenizer.model.
"""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 48
OVERFLOW_CHOICES = ("truncate", "error")


def demo_tokenizer_path() -> Path:
    """Path of the demo SentencePiece model shipped inside this package."""
    return Path(str(importlib.resources.files("pi0_policy.policy") / "assets" / "tokenizer.model"))


def clean_prompt(text: str) -> str:
    """openpi's cleaning: strip, then ``_`` and newlines become spaces."""
    return text.strip().replace("_", " ").replace("\n", " ")


class PromptTokenizer:
    """Turns prompts into fixed-length token ids and masks (see module doc)."""

    def __init__(
        self, model_file: str | Path, max_length: int = DEFAULT_MAX_LENGTH, overflow: str = "truncate"
    ):
        import sentencepiece

        self.model_file = Path(model_file)
        if not self.model_file.is_file():
            raise FileNotFoundError(f"tokenizer model not found: {self.model_file}")
        if overflow not in OVERFLOW_CHOICES:
            raise ValueError(f"overflow={overflow!r}; choose one of {OVERFLOW_CHOICES}")
        if max_length < 2:
            raise ValueError(f"max_length={max_length}: need room for BOS and at least one token")
        try:
            self._sp = sentencepiece.SentencePieceProcessor(model_file=str(self.model_file))
        except (RuntimeError, OSError) as error:
            raise ValueError(f"{self.model_file} is not a SentencePiece model: {error}") from error
        if self._sp.bos_id() < 0:
            raise ValueError(f"{self.model_file}: the SentencePiece model has no BOS token")
        self.max_length = max_length
        self.overflow = overflow
        # Gemma's pad id is 0; a model trained without a pad piece pads with 0 too.
        self.pad_id = max(self._sp.pad_id(), 0)
        self.bos_id = self._sp.bos_id()
        self._last_truncated = None

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def token_ids(self, prompt: str) -> list[int]:
        """Unpadded, untruncated ids: BOS + clean(prompt) + "\\n"."""
        if not isinstance(prompt, str):
            raise ValueError(f"prompt must be a str, got {type(prompt).__name__}: {prompt!r}")
        return [self.bos_id, *self._sp.encode(clean_prompt(prompt)), *self._sp.encode("\n")]

    def pieces(self, ids: list[int]) -> list[str]:
        """The SentencePiece pieces of ``ids`` (for inspection)."""
        return [self._sp.id_to_piece(i) for i in ids]

    def encode(self, prompt: str) -> tuple[np.ndarray, np.ndarray]:
        """``(int64[max_length] ids, bool[max_length] mask)``; see the module doc for overflow."""
        ids = self.token_ids(prompt)
        if len(ids) > self.max_length:
            if self.overflow == "error":
                raise ValueError(
                    f"prompt is {len(ids)} tokens, more than max_length={self.max_length}: {prompt!r}"
                )
            if prompt != self._last_truncated:  # once per prompt, not at every inference
                logger.warning(
                    "prompt is %d tokens, truncated to max_length=%d: %r", len(ids), self.max_length, prompt
                )
                self._last_truncated = prompt
            ids = ids[: self.max_length]
        tokens = np.full(self.max_length, self.pad_id, dtype=np.int64)
        tokens[: len(ids)] = ids
        mask = np.zeros(self.max_length, dtype=bool)
        mask[: len(ids)] = True
        return tokens, mask
