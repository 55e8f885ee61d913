"""Fine-tuning choices: freeze parts of π0, LoRA adapters through `peft`, merged weights for saving.

- ``freeze="vision"``: the SigLIP vision tower (and its projector) stay fixed;
- ``freeze="vlm"``: the whole PaliGemma (vision + language model) stays fixed; the action expert
  and the state/action heads train;
- LoRA (``rank > 0``): rank-r adapters on the attention and MLP projections of the language model
  and the action expert (q/k/v/o, gate/up/down); every original weight of those stacks and of
  the vision tower is frozen; the π0 heads (state_proj, action_in/out_proj, action_time_mlp_*)
  keep training, as in openpi's LoRA configs. `merged_state_dict` folds the adapters into the
  weights, so the saved checkpoint is a plain π0 checkpoint.
"""
from __future__ import annotations

import torch

from pi0_policy.train.config import FREEZE_CHOICES
LORA_TARGETS = r".*\.(language_model|gemma_expert)\..*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
HEADS = ("state_proj", "action_in_proj", "action_out_proj", "action_time_mlp_in", "action_time_mlp_out")
_FROZEN_PREFIX = {"vision": ("paligemma_with_expert.paligemma.model.vision_tower",
                             "paligemma_with_expert.paligemma.model.multi_modal_projector"),
                  "vlm": ("paligemma_with_expert.paligemma",)}


def freeze(model: torch.nn.Module, what: str) -> None:
    """Set requires_grad=False on the parameters ``what`` names (see module doc)."""
    if what not in FREEZE_CHOICES:
        raise ValueError(f"freeze={what!r}; choose from {list(FREEZE_CHOICES)}")
    if what == "none":
        return
    for name, param in model.named_parameters():
        if name.startswith(_FROZEN_PREFIX[what]):
            param.requires_grad_(False)


def apply_lora(model: torch.nn.Module, rank: int, alpha: float | None = None, dropout: float = 0.0):
    """Inject LoRA adapters (in place) and leave only them and the π0 heads trainable."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank, lora_dropout=dropout,
                        target_modules=LORA_TARGETS, bias="none")
    model = inject_adapter_in_model(config, model)
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name or name.startswith(HEADS))
    return model


def merged_state_dict(model: torch.nn.Module, state: dict | None = None) -> dict[str, torch.Tensor]:
    """The weights in the plain π0 key layout with the LoRA deltas (B·A·alpha/r) added.

    ``state``: the model's parameters by name (e.g. gathered from FSDP); default: read from
    ``model``. The model itself is not modified (merging in place and unmerging would perturb
    the base weights by rounding)."""
    from peft.tuners.lora import LoraLayer

    if state is None:
        state = {name: p.detach().cpu().clone() for name, p in model.named_parameters()}
    state = dict(state)
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            key = f"{name}.base_layer.weight"
            for adapter in module.active_adapters:
                a = state[f"{name}.lora_A.{adapter}.weight"].float()
                b = state[f"{name}.lora_B.{adapter}.weight"].float()
                state[key] = (state[key].float() + (b @ a) * module.scaling[adapter]).to(state[key].dtype)
    return {name.replace(".base_layer.", "."): value.contiguous() for name, value in state.items()
            if "lora_" not in name}


def trainable_summary(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
