"""Test helpers for the policy tests: the LeRobot fixture laid out as a real LeRobot checkpoint.

The fixture (data/lerobot_pi0_tiny, see its README) keeps LeRobot's inputs and outputs as .npy
files. `make_lerobot_dir` writes what LeRobot's ``save_pretrained`` would have: config.json
(the fixture's pi0_config plus ``"type": "pi0"``), model.safetensors, the normaliser and
un-normaliser statistics as safetensors with LeRobot's flat keys, and policy_preprocessor.json.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

FIXTURE = Path(__file__).parent / "data" / "lerobot_pi0_tiny"
PROMPT = "pick up the red cube and place it in the box"
CAMERAS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")
ACTIONS_ATOL = 1e-4  # the fixture README's tolerance on actions (float32, CPU)
# Two model objects built from the same weights by different load paths (LeRobot directory read
# in place vs. converted; saved and loaded again) run the same float32 computation, but tensor
# alignment and kernel choice may differ per object and per CPU, which changes the rounding:
# 7e-7 was seen on a 2-core AVX2 machine. Bit-identity holds only for one object run twice.
SAME_WEIGHTS_ATOL = 1e-5


def load(name: str) -> np.ndarray:
    """A fixture array, e.g. load("outputs/actions_padded.npy") (the one loader of the fixture)."""
    return np.load(FIXTURE / name)


def reference() -> dict:
    return json.loads((FIXTURE / "reference.json").read_text())


def make_lerobot_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = dict(reference()["pi0_config"], type="pi0")
    (path / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(FIXTURE / "model.safetensors", path / "model.safetensors")
    save_file(
        {
            "observation.state.mean": load("inputs/stats_observation_state_mean.npy"),
            "observation.state.std": load("inputs/stats_observation_state_std.npy"),
        },
        str(path / "policy_preprocessor_step_3_normalizer_processor.safetensors"),
    )
    save_file(
        {
            "action.mean": load("inputs/stats_action_mean.npy"),
            "action.std": load("inputs/stats_action_std.npy"),
        },
        str(path / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"),
    )
    steps = [
        {
            "registry_name": "normalizer_processor",
            "config": {"eps": 1e-8},
            "state_file": "policy_preprocessor_step_3_normalizer_processor.safetensors",
        }
    ]
    (path / "policy_preprocessor.json").write_text(
        json.dumps({"name": "policy_preprocessor", "steps": steps})
    )
    return path


def raw_observation(with_noise: bool = True) -> dict:
    """The fixture's raw inputs as a Pi0Policy observation."""
    obs = {
        "images": {key: load(f"inputs/raw_image_{key}.npy") for key in CAMERAS},
        "state": load("inputs/raw_state.npy"),
        "prompt": PROMPT,
    }
    if with_noise:
        obs["noise"] = load("inputs/noise.npy")[0]
    return obs
