"""Sinusoidal embedding of the flow-matching time and the training-time distribution."""
from __future__ import annotations

import math

import torch
from torch import Tensor


def sinusoidal_time_embedding(time: Tensor, width: int, min_period: float, max_period: float) -> Tensor:
    """Float[b, width]: [sin, cos] of time * 2π / period, periods geometric from min to max period.

    Computed in float64 (as LeRobot/openpi do), returned in float32; the caller casts further.
    """
    if width % 2:
        raise ValueError(f"time embedding width must be even, got {width}")
    if time.dim() != 1:
        raise ValueError(f"time must be a 1-D tensor [b], got shape {tuple(time.shape)}")
    fraction = torch.linspace(0.0, 1.0, width // 2, dtype=torch.float64, device=time.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = (2 * math.pi / period)[None, :] * time.to(torch.float64)[:, None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1).to(torch.float32)


def sample_time(batch: int, alpha: float, beta: float, scale: float, offset: float,
                device: torch.device | str = "cpu") -> Tensor:
    """Float32[b]: t = Beta(alpha, beta) * scale + offset (openpi: Beta(1.5, 1) * 0.999 + 0.001).

    With this library's convention (t = 1 is pure noise) this puts more mass on high noise levels,
    the paper's "shifted beta" with threshold s = 0.999. Seed with torch.manual_seed.
    """
    a = torch.full((batch,), float(alpha), dtype=torch.float32)
    b = torch.full((batch,), float(beta), dtype=torch.float32)
    sample = torch.distributions.Beta(a, b).sample()
    return (sample * scale + offset).to(device)
