"""The node's side of openpi's layouts: robot observations → openpi's keys, openpi's actions → robot.

With ``server_layout: openpi_<layout>`` the policy node talks to openpi's own policy server
(``scripts/serve_policy.py``). That server applies its config's input transforms itself (ALOHA:
joint flips, gripper maps, normalisation, delta actions) and returns absolute robot-space
actions, so `ServerLayoutAdapter` replaces the node's `EmbodimentAdapter`: no profile, no
normalisation. It sends the raw state and the cameras under openpi's keys, as openpi's example
clients do, and takes the reply as robot-space targets, which the node then clamps,
velocity-caps and schedules like any other chunk. The mapping is the ``client`` section of
``layouts.yaml`` (shared with the server's side, `pi0_policy.serve.layouts`).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from pi0_policy.serve.layouts import load_layouts

OWN_LAYOUT = "pi0ros"
PREFIX = "openpi_"
GRIPPER_UNITS = ("driver", "open_unit", "closed_unit")


def server_layouts() -> tuple[str, ...]:
    """Values of the node's ``server_layout`` parameter: ``pi0ros`` and ``openpi_<layout>``."""
    return (OWN_LAYOUT,) + tuple(PREFIX + name for name, spec in load_layouts().items() if "client" in spec)


def _resized(image, size: int | None, name: str) -> np.ndarray:
    """uint8 ``[H, W, 3]`` resized with padding to ``[size, size, 3]`` uint8 (openpi's example
    clients: ``convert_to_uint8(resize_with_pad(image, size, size))``); ``size`` None: unchanged."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"camera image for {name}: expected uint8 [H, W, 3], got {image.dtype} {image.shape}")
    if not size or image.shape[:2] == (size, size):
        return image
    from pi0_policy.policy.images import resize_with_pad, to_unit_chw

    return (255.0 * resize_with_pad(to_unit_chw(image, name), size)).astype(np.uint8).transpose(1, 2, 0)


class ServerLayoutAdapter:
    """Robot space ↔ an openpi server's layout for one embodiment (the node's adapter interface:
    ``encode``, ``decode``, ``clamp``, ``action_names``). Construction checks the embodiment and
    the server's metadata against the layout; ``ValueError`` names the mismatch."""

    def __init__(self, spec, server_layout: str, metadata: Mapping | None = None):
        from pi0_policy.policy.adapters import EmbodimentAdapter

        name = server_layout[len(PREFIX):] if server_layout.startswith(PREFIX) else None
        layout = load_layouts().get(name) if name else None
        if layout is None or "client" not in layout:
            raise ValueError(f"server_layout {server_layout!r}: choose one of {list(server_layouts())}")
        client = layout["client"]
        self.layout, self.spec = server_layout, spec
        if client["actions"] != "positions":
            raise ValueError(f"server_layout {server_layout}: not supported by the node: the server returns "
                             f"{client['actions']}, not robot-space positions")
        if spec.name not in client["embodiments"]:
            raise ValueError(f"server_layout {server_layout} is for embodiment(s) {client['embodiments']}, "
                             f"not {spec.name}")
        for what, want, have in (("state_dim", client["state_dim"], spec.state_dim),
                                 ("action_dim", client["action_dim"], spec.action_dim)):
            if want != have:
                raise ValueError(f"server_layout {server_layout}: {what} {want}, embodiment {spec.name} has {have}")
        metadata = dict(metadata or {})
        if "layouts" in metadata and name not in metadata["layouts"]:
            raise ValueError(f"server does not accept layout {name!r} (its layouts: {metadata['layouts']})")
        if metadata.get("action_dim", client["action_dim"]) < client["action_dim"]:
            raise ValueError(f"server's action_dim {metadata['action_dim']} < {client['action_dim']} "
                             f"that server_layout {server_layout} needs")
        if client["gripper"] not in GRIPPER_UNITS:
            raise ValueError(f"layouts.yaml {name}: gripper {client['gripper']!r}: choose one of {list(GRIPPER_UNITS)}")
        self._client, self._name = client, name
        self._clamp = EmbodimentAdapter(spec).clamp  # joint and base limits, nothing else
        self.state_names = tuple(d.name for d in spec.state_dims)
        self.action_names = tuple(d.name for d in spec.action_dims)
        self._state_grippers = {i: spec.grippers[n] for i, n in enumerate(self.state_names) if n in spec.grippers}
        self._action_grippers = {i: spec.grippers[n] for i, n in enumerate(self.action_names) if n in spec.grippers}

    # ---- grippers ----------------------------------------------------------------------------
    def _to_layout(self, gripper, driver):
        units = self._client["gripper"]
        if units == "driver":
            return driver
        closed_unit = gripper.to_policy(driver)  # open 0, closed 1
        return closed_unit if units == "closed_unit" else 1.0 - closed_unit

    def _to_driver(self, gripper, value):
        units = self._client["gripper"]
        if units == "driver":
            return value
        return gripper.to_driver(value if units == "closed_unit" else 1.0 - value)

    # ---- observation -------------------------------------------------------------------------
    def encode(self, robot_obs: dict) -> dict:
        """``{"images": {role: uint8 HxWx3}, "positions": {joint: value}, "prompt"}`` → openpi's dict
        (e.g. ALOHA: ``{"state": float64[14], "images": {"cam_high": uint8[3, H, W], ...}, "prompt"}``)."""
        positions = robot_obs["positions"]
        missing = [n for n in self.state_names if n not in positions]
        if missing:
            raise ValueError(f"joint state lacks {missing} (embodiment {self.spec.name})")
        state = np.array([float(positions[n]) for n in self.state_names], dtype=np.float64)
        if not np.all(np.isfinite(state)):
            raise ValueError(f"joint state is not finite: {state.tolist()}")
        for i, gripper in self._state_grippers.items():
            state[i] = self._to_layout(gripper, state[i])
        images = {}
        for role, key in self._client["cameras"].items():
            if role in robot_obs.get("images", {}):
                image = _resized(robot_obs["images"][role], self._client.get("image_size"), key)
                images[key] = np.ascontiguousarray(image.transpose(2, 0, 1)) \
                    if self._client["image_format"] == "chw" else image
        layout = load_layouts()[self._name]
        if "images_in" in layout:
            out = {layout["images_in"]: images}
        else:
            out = dict(images)
        keys, widths = layout["state"], self._state_widths(layout)
        for key, part in zip(keys, np.split(state, np.cumsum(widths)[:-1])):
            out[key] = part
        out["prompt"] = robot_obs.get("prompt") or ""
        return out

    def _state_widths(self, layout) -> list[int]:
        """How the state splits over the layout's state keys (``state_split``; one key: all of it)."""
        return list(self._client.get("state_split", [self._client["state_dim"]]))

    # ---- actions -----------------------------------------------------------------------------
    def decode(self, server_actions, current_positions=None) -> np.ndarray:
        """The server's ``Float[H, action_dim]`` robot-space actions → clamped robot actions
        (grippers back to driver units). Another width or non-finite values: ``ValueError``."""
        acts = np.array(server_actions, dtype=np.float64)
        n = self._client["action_dim"]
        if acts.ndim != 2 or acts.shape[1] != n:
            raise ValueError(f"server returned actions of shape {acts.shape}; server_layout {self.layout} "
                             f"and embodiment {self.spec.name} need (H, {n})")
        if not np.all(np.isfinite(acts)):
            raise ValueError("server actions contain NaN or infinity")
        for i, gripper in self._action_grippers.items():
            acts[:, i] = self._to_driver(gripper, acts[:, i])
        return self.clamp(acts)

    def clamp(self, robot_actions: np.ndarray) -> np.ndarray:
        return self._clamp(robot_actions)
