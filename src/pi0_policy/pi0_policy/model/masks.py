"""π0's blockwise causal attention mask and token positions.

Axis letters: b batch, s sequence (keys), q queries.

Every token carries two flags:
- `valid` (pad mask): False for padding tokens and the tokens of a missing camera;
- `block_start`: True where a new attention block starts.

The π0 sequence has three blocks: [images + prompt] (no flag set), [state] (flag on the state token),
[actions] (flag on the first action token). With block id = cumsum(block_start), token i may attend
to token j iff block(j) <= block(i) and both tokens are valid. So:
- images and prompt attend to each other bidirectionally and never to the suffix;
- the state token attends to the prefix and itself;
- the action tokens attend to the prefix, the state and all action tokens (bidirectionally).
Invalid tokens neither attend nor are attended to (an invalid query row is all False).
"""
from __future__ import annotations

import torch
from torch import Tensor

# The additive mask value openpi and LeRobot use; a fully masked row softmaxes to a uniform
# distribution (finite), unlike -inf which would give NaN.
MASK_VALUE = -2.3819763e38


def attention_mask(valid: Tensor, block_start: Tensor) -> Tensor:
    """Bool[b, s, s]: entry [i, j] is True iff token i may attend to token j (see module docstring)."""
    if valid.shape != block_start.shape or valid.dim() != 2:
        raise ValueError(
            f"valid {tuple(valid.shape)} and block_start {tuple(block_start.shape)} must both be [b, s]"
        )
    block = torch.cumsum(block_start.to(torch.int64), dim=1)
    causal = block[:, None, :] <= block[:, :, None]
    both_valid = valid[:, None, :] & valid[:, :, None]
    return causal & both_valid


def positions(valid: Tensor) -> Tensor:
    """Long[b, s]: RoPE positions = cumsum(valid) - 1, so invalid tokens do not advance positions."""
    return torch.cumsum(valid.to(torch.int64), dim=1) - 1


def additive_mask(allowed: Tensor) -> Tensor:
    """Float32[b, 1, q, s]: 0 where attention is allowed, MASK_VALUE elsewhere (added to logits)."""
    zero = torch.zeros((), dtype=torch.float32, device=allowed.device)
    masked = torch.full((), MASK_VALUE, dtype=torch.float32, device=allowed.device)
    return torch.where(allowed[:, None], zero, masked)
