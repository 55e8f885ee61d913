"""torch.distributed for `pi0 train`: one process per device under torchrun (DDP), FSDP optional.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT; without them training runs in one
process. Backend: NCCL on CUDA, gloo on CPU. DDP and FSDP wrap `LossModule`, whose forward is
the flow-matching loss, so gradients are all-reduced in backward as DDP expects.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str) -> Dist:
    """Initialise the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def cleanup(state: Dist) -> None:
    if state.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


class LossModule(torch.nn.Module):
    """forward(batch) → per-element flow-matching losses of the wrapped `Pi0Model`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> torch.Tensor:
        return self.model.compute_loss(**batch)


def wrap(module: LossModule, state: Dist, device: str, fsdp: bool = False) -> torch.nn.Module:
    """DDP (or FSDP) around ``module`` when distributed; the module itself otherwise."""
    if not state.enabled:
        return module
    if fsdp:
        from torch.distributed.fsdp import FullyShardedDataParallel

        return FullyShardedDataParallel(module, use_orig_params=True,
                                        device_id=torch.device(device) if device.startswith("cuda") else None)
    from torch.nn.parallel import DistributedDataParallel

    ids = [state.local_rank] if device.startswith("cuda") else None
    # The language model's last-layer MLP and final norm feed no action token (the expert reads
    # only the prefix's keys and values): they get no gradient, which DDP must be told.
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def parameters(wrapped: torch.nn.Module, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's parameters by name on the CPU; under FSDP gathered whole on rank 0 (other ranks
    get an empty dict)."""
    names = {name for name, _ in model.named_parameters()}
    try:
        from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel, StateDictType
    except ImportError:  # pragma: no cover - torch without distributed
        FullyShardedDataParallel = None  # noqa: N806
    if FullyShardedDataParallel is None or not isinstance(wrapped, FullyShardedDataParallel):
        return {name: p.detach().cpu().clone() for name, p in model.named_parameters()}
    config = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
    with FullyShardedDataParallel.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, config):
        full = wrapped.state_dict()
    out = {}
    for key, value in full.items():
        name = key.replace("_fsdp_wrapped_module.", "").removeprefix("model.")
        if name in names:
            out[name] = value.detach().cpu()
    return out


def all_mean(value: float, state: Dist, device: str = "cpu") -> float:
    """The mean of a float over the processes (itself when not distributed)."""
    if not state.enabled:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / state.world_size
