"""Training data for `pi0 train`: one or more LeRobot v3 datasets, mixed with weights, as batches.

Mixture weighting (π0 paper, section V-C: task-robot combinations weighted by n^0.43): dataset i
with n_i frames is drawn with probability proportional to n_i^alpha; ``alpha=1`` samples every
frame equally, ``alpha=0`` every dataset equally. Batches are drawn with replacement from a
seeded torch Generator whose state is saved with the training state, so a resumed run draws the
same batches as an uninterrupted one. Every dataset of a mixture must have the same state and
action dimensions (one model space); norm stats are computed over the whole mixture.
"""
from __future__ import annotations

import numpy as np
import torch

from pi0_policy.data.dataset import Pi0Dataset, action_chunks
from pi0_policy.data.stats import norm_stats as compute_norm_stats

PAPER_ALPHA = 0.43


def mixture_weights(sizes, alpha: float) -> np.ndarray:
    """Per-dataset sampling probabilities ∝ n_i^alpha."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if (sizes <= 0).any():
        raise ValueError(f"every dataset needs frames, got sizes {sizes.tolist()}")
    weights = sizes ** alpha
    return weights / weights.sum()


def mixture_norm_stats(datasets: list[Pi0Dataset]):
    """openpi norm stats over every frame and chunk of every dataset."""
    states, chunks, valid = [], [], []
    for ds in datasets:
        rows = np.arange(len(ds))
        states.append(ds.state)
        chunks.append(action_chunks(ds.state, ds.action, ds.chunk_rows, rows, ds.delta_mask, ds.delta_state))
        valid.append(ds.valid)
    return compute_norm_stats(np.concatenate(states), np.concatenate(chunks), np.concatenate(valid))


class MixtureSampler:
    """Draws batches of (dataset, frame) pairs; see the module doc."""

    def __init__(self, datasets: list[Pi0Dataset], alpha: float = 1.0, seed: int = 0):
        self.datasets = datasets
        self.probs = torch.tensor(mixture_weights([len(d) for d in datasets], alpha))
        self.generator = torch.Generator().manual_seed(seed)

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        which = torch.multinomial(self.probs, size, replacement=True, generator=self.generator)
        samples = []
        for d in which.tolist():
            i = int(torch.randint(len(self.datasets[d]), (1,), generator=self.generator))
            samples.append(self.datasets[d][i])
        return torch.utils.data.default_collate(samples)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
