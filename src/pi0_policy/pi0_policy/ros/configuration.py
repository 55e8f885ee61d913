"""What the policy node builds at configure from its parameters, the embodiment and the policy's
metadata: the adapter (checked against the checkpoint), where the actions go (`CommandLayout`),
real-time chunking's guidance source, and the warm-up inference. Pure of the node itself: each
function takes what it needs and raises ValueError naming what does not fit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pi0_policy.policy.chunking import PlanSettings


def make_adapter(spec, params, meta: dict):
    """The adapter between the robot and the policy: the server's layout for an openpi server
    (robot space both ways), else the embodiment's adapter under the checkpoint's convention
    profile (a mismatch is an error). Raises if the checkpoint's dims do not fit the embodiment."""
    from pi0_policy.policy.adapters import EmbodimentAdapter, load_adapter_config

    if params.backend == "remote" and params.server_layout != "pi0ros":
        from pi0_policy.serve.client_layout import ServerLayoutAdapter

        adapter = ServerLayoutAdapter(spec, params.server_layout, meta)
    else:
        adapter = EmbodimentAdapter(spec, load_adapter_config(spec.name, params.adapter_file or None),
                                    profile=meta.get("profile"))
        if meta.get("image_keys"):  # a remote (openpi) server may not tell its keys
            adapter.check_image_keys(meta["image_keys"])
    if meta.get("state_dim", spec.state_dim) != spec.state_dim or meta.get("action_dim", spec.action_dim) \
            < spec.action_dim:  # a remote (openpi) server may not tell its dims
        raise ValueError(f"checkpoint {params.checkpoint} has state_dim {meta['state_dim']} and action_dim "
                         f"{meta['action_dim']}; embodiment {spec.name} needs {spec.state_dim} and "
                         f"{spec.action_dim}")
    return adapter


@dataclass(frozen=True)
class CommandLayout:
    """Where the policy's actions go: their names, the arm/gripper joints among them (with their
    limits), the base's columns, the chunk planning settings and the replan interval."""

    action_names: list
    joint_names: list
    limits: dict  # joint name → (lower, upper)
    base_cols: dict  # base axis name → action column
    plan: PlanSettings
    replan_interval: int


def command_layout(spec, params, adapter, max_history: int) -> CommandLayout:
    action_names = list(adapter.action_names)
    joint_cols = tuple(i for i, d in enumerate(spec.action_dims) if d.kind != "base")
    joint_names = [action_names[i] for i in joint_cols]
    plan = PlanSettings(dt=spec.dt, joint_cols=joint_cols, max_velocity=spec.limits(joint_names)[2],
                        clamp=adapter.clamp, mode=params.execution_mode, decay=params.ensemble_decay,
                        max_history=max_history, lead=params.command_lead or spec.dt)
    return CommandLayout(action_names=action_names, joint_names=joint_names,
                         limits={j.name: (j.lower, j.upper) for j in spec.joints},
                         base_cols={d.name: i for i, d in enumerate(spec.action_dims) if d.kind == "base"},
                         plan=plan, replan_interval=params.replan_interval or spec.replan_interval)


def realtime_chunking(params, policy, adapter, spec, meta: dict):
    """execution_mode rtc: the guidance source (`pi0_policy.ros.realtime_chunking`); None in the
    other modes. ValueError for a policy that cannot take guidance."""
    if params.execution_mode != "rtc":
        return None
    if not getattr(policy, "supports_rtc", False):
        raise ValueError(f"execution_mode rtc needs a policy that takes guidance (backend local); "
                         f"backend {params.backend!r} does not: use open_loop or temporal_ensemble")
    from pi0_policy.ros.realtime_chunking import RealtimeChunking

    return RealtimeChunking(adapter, spec.dt, meta["horizon"], meta["action_dim"], params.rtc_max_guidance)


def warm_up(policy, adapter, spec) -> None:
    """One inference on blank images at a mid-range pose (allocations, kernel choice, compilation)."""
    blank = {c.role: np.zeros((c.height, c.width, 3), np.uint8) for c in spec.cameras}
    positions = {j.name: float(np.clip(0.0, j.lower, j.upper)) for j in spec.joints}
    policy.infer(adapter.encode({"images": blank, "positions": positions, "prompt": "warm up"}))
