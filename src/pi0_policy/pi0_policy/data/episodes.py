"""Bag streams → episodes of frames at the control rate, in the model space of the adapter.

Episodes: the ``/pi0/episode`` markers (JSON ``{"event": "start"|"end", "episode", "task", "seed",
"instruction", "success"}``) delimit them; a bag without markers is one episode whose instruction
is the last ``/pi0/instruction`` before its end. A start without an end ends at the bag's end.

Frames: at ``t_k = t_0 + k / control_rate_hz`` from the first time every camera and the joint
state have a sample, to the episode end. Each observation is the latest sample at or before t_k
(what the policy node would have seen then).

Actions (``actions="commands"``): the commanded position of each joint at ``t_k + dt``, read
from the latest JointTrajectory of its controller (linear interpolation between points, held
after the last), and the latest base velocity command (zero once older than the base's
``command_timeout``). ``actions="next-state"``: the measured joint positions at ``t_{k+1}``.

Space: state and actions are stored absolute in the adapter's model space (sign flips, grippers
in [0, 1]); delta dimensions are made relative to the state per action chunk when loading
(`pi0_policy.data.dataset`), as openpi does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pi0_policy.data.bags import BagError, BagStreams, decode_image, where

ACTION_SOURCES = ("commands", "next-state")


@dataclass
class Episode:
    """One episode: ``state`` and ``actions`` float32[T, dim] (model space, absolute), images
    uint8[T, H, W, 3] by camera role, ``times`` float64[T] (bag seconds), instruction, marks."""

    bag: str
    index: int
    instruction: str
    times: np.ndarray
    state: np.ndarray
    actions: np.ndarray
    images: dict[str, np.ndarray]
    task: str = ""
    seed: int | None = None
    success: bool | None = None
    extra: dict = field(default_factory=dict)


def segments(streams: BagStreams) -> list[dict]:
    """``[{"start", "end", "instruction", "task", "seed", "success", "episode"}]`` from the markers."""
    bag = streams.path
    if not streams.markers:
        instruction = streams.instructions[-1][1] if streams.instructions else ""
        return [{"start": streams.start, "end": streams.end, "instruction": instruction,
                 "task": "", "seed": None, "success": None, "episode": 0}]
    out, current = [], None
    for t, marker in streams.markers:
        if marker["event"] == "start":
            if current is not None:
                current["end"] = t
                out.append(current)
            current = {"start": t, "end": streams.end, "instruction": marker.get("instruction") or "",
                       "task": marker.get("task") or "", "seed": marker.get("seed"), "success": None,
                       "episode": marker.get("episode", len(out))}
        elif current is not None:
            current["end"] = t
            current["success"] = marker.get("success")
            out.append(current)
            current = None
    if current is not None:
        out.append(current)
    for seg in out:
        if not seg["instruction"]:
            before = [text for t, text in streams.instructions if t <= seg["end"]]
            seg["instruction"] = before[-1] if before else ""
    return out


SAME_INSTANT = 1e-6  # s: samples this close to a frame time count as "at" it (float rounding of ns stamps)


def _latest_index(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the latest sample at or before each of ``at`` (-1: none)."""
    return np.searchsorted(times, np.asarray(at) + SAME_INSTANT, side="right") - 1


def _command_at(commands, t: float) -> dict[str, float]:
    """Joint → commanded position at time ``t`` from the latest command received by ``t``."""
    index = int(_latest_index(np.array([c.t for c in commands]), np.array([t]))[0])
    if index < 0:
        return {}
    cmd = commands[index]
    elapsed = t - cmd.start
    values = [np.interp(elapsed, cmd.times, cmd.positions[:, j]) for j in range(len(cmd.joints))]
    return dict(zip(cmd.joints, values))


def _robot_actions(streams, spec, adapter, times, positions, actions, dt) -> np.ndarray:
    bag = streams.path
    names, kinds = adapter.action_names, [d.kind for d in spec.action_dims]
    out = np.zeros((len(times), len(names)))
    if actions == "next-state":
        for k in range(len(times)):
            nxt = positions[min(k + 1, len(times) - 1)]
            out[k] = [nxt.get(n, 0.0) if kind != "base" else 0.0 for n, kind in zip(names, kinds)]
    else:
        for ctrl in spec.trajectory_controllers:
            if not streams.commands.get(ctrl.name):
                raise BagError(f"{where(bag, ctrl.topic)}: no JointTrajectory commands recorded "
                               f"(use --actions next-state to learn from the measured states)")
        for k, t in enumerate(times):
            target = {}
            for ctrl in spec.trajectory_controllers:
                target.update(_command_at(streams.commands[ctrl.name], t + dt))
            for i, (n, kind) in enumerate(zip(names, kinds)):
                if kind != "base":
                    out[k, i] = target.get(n, positions[k][n])
    base_cols = [i for i, kind in enumerate(kinds) if kind == "base"]
    if base_cols and streams.base:
        axes = {"base_x": 0, "base_y": 1, "base_yaw": 2}
        base_times = np.array([b[0] for b in streams.base])
        idx = _latest_index(base_times, times)
        for k, i in enumerate(idx):
            if i >= 0 and times[k] - base_times[i] <= spec.base.command_timeout:
                for col in base_cols:
                    out[k, col] = streams.base[i][1][axes[names[col]]]
    return out


def episode_frames(streams: BagStreams, spec, adapter, seg: dict, index: int,
                   actions: str = "commands", image_size: int | None = None) -> Episode:
    """Resample one segment (see `segments`) to frames; BagError naming bag/topic/time on gaps."""
    if actions not in ACTION_SOURCES:
        raise ValueError(f"actions={actions!r}; choose from {list(ACTION_SOURCES)}")
    bag = streams.path
    dt = 1.0 / spec.control_rate_hz
    if not streams.joint_times:
        raise BagError(f"{where(bag, spec.joint_state_topic)}: no JointState messages")
    joint_times = np.array(streams.joint_times)
    firsts = {spec.joint_state_topic: joint_times[joint_times >= seg["start"]]}
    for cam in spec.cameras:
        msgs = streams.images.get(cam.role, [])
        if not msgs:
            raise BagError(f"{where(bag, cam.topic)}: no images for camera {cam.role!r}")
        times = np.array([m[0] for m in msgs])
        firsts[cam.topic] = times[times >= seg["start"]]
    for topic, times in firsts.items():
        if times.size == 0 or times[0] > seg["end"]:
            raise BagError(f"{where(bag, topic, seg['start'])}: no message in episode {seg['episode']} "
                           f"({seg['start']:.3f}–{seg['end']:.3f} s)")
    t0 = max(times[0] for times in firsts.values())
    count = int(np.floor((seg["end"] - t0) / dt + 1e-9)) + 1
    times = t0 + dt * np.arange(count)
    joint_idx = _latest_index(joint_times, times)
    positions = [streams.joint_positions[i] for i in joint_idx]
    try:
        robot_state = np.stack([adapter.state_vector(p) for p in positions])
    except ValueError as error:
        raise BagError(f"{where(bag, spec.joint_state_topic, times[0])}: {error}") from None
    robot_actions = _robot_actions(streams, spec, adapter, times, positions, actions, dt)
    state = np.stack([adapter.encode_state(s) for s in robot_state])
    model_actions = np.stack([_absolute_model_actions(adapter, a, p)
                              for a, p in zip(robot_actions, positions)])
    images = {}
    for cam in spec.cameras:
        msgs = streams.images[cam.role]
        idx = _latest_index(np.array([m[0] for m in msgs]), times)
        frames = []
        for i in idx:
            t, msg, topic = msgs[i]
            frame = decode_image(msg, bag, topic, t)
            if image_size is not None:
                frame = _resize(frame, image_size)
            if frames and frame.shape != frames[0].shape:
                raise BagError(f"{where(bag, topic, t)}: image size {frame.shape[1]}x{frame.shape[0]} "
                               f"changed from {frames[0].shape[1]}x{frames[0].shape[0]}")
            frames.append(frame)
        images[cam.role] = np.stack(frames)
    return Episode(bag=str(bag), index=index, instruction=seg["instruction"], times=times,
                   state=state.astype(np.float32), actions=model_actions.astype(np.float32),
                   images=images, task=seg["task"], seed=seg["seed"], success=seg["success"])


def _absolute_model_actions(adapter, robot_action: np.ndarray, positions: dict) -> np.ndarray:
    """Robot action → model space without the delta step (sign flips, grippers in [0, 1])."""
    model = adapter.encode_actions(robot_action[None], positions)[0]
    if adapter.delta_mask.any():
        state = adapter.encode_state(adapter.state_vector(positions))
        model[adapter.delta_mask] += state[state_index(adapter)[adapter.delta_mask]]
    return model


def state_index(adapter) -> np.ndarray:
    """For each action dimension, the index of the state dimension of the same name (-1: none)."""
    return np.array([adapter.state_names.index(n) if n in adapter.state_names else -1
                     for n in adapter.action_names])


def _resize(frame: np.ndarray, longest: int) -> np.ndarray:
    """Scale so that the longer side is ``longest`` px, keeping the aspect ratio (sides rounded to
    even numbers for yuv420p video): the model's resize-with-pad then sees the same picture as
    from the full-size camera at run time."""
    from PIL import Image as PILImage

    height, width = frame.shape[:2]
    scale = longest / max(height, width)
    size = (max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2)))
    if size == (width, height):
        return frame
    return np.asarray(PILImage.fromarray(frame).resize(size, PILImage.BILINEAR))


def bag_episodes(path, spec, adapter, actions: str = "commands", namespace: str = "",
                 image_size: int | None = None, min_frames: int = 2):
    """The episodes of one bag, one at a time (see the module doc); episodes shorter than
    ``min_frames`` are dropped."""
    from pi0_policy.data.bags import read_bag

    streams = read_bag(path, spec, namespace)
    for i, seg in enumerate(segments(streams)):
        episode = episode_frames(streams, spec, adapter, seg, i, actions, image_size)
        if len(episode.times) >= min_frames:
            yield episode
