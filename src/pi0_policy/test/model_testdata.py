"""Loaders for the LeRobot tiny π0 reference (test/data/lerobot_pi0_tiny), shared by the model tests."""
import torch
from policy_fixtures import FIXTURE
from policy_fixtures import load as load_array

WEIGHTS = FIXTURE / "model.safetensors"
CAMERAS = ("0_base_0_rgb", "1_left_wrist_0_rgb", "2_right_wrist_0_rgb")


def load(name: str) -> torch.Tensor:
    """A fixture array as a tensor, e.g. load("outputs/actions_padded")."""
    return torch.from_numpy(load_array(f"{name}.npy"))


def observation() -> dict:
    """The model-ready inputs LeRobot was given (batch of 1, three cameras)."""
    return {
        "images": torch.stack([load(f"inputs/image_{c}") for c in CAMERAS], dim=1),
        "image_masks": torch.stack([load(f"inputs/image_mask_{c}") for c in CAMERAS], dim=1),
        "tokens": load("inputs/lang_tokens"),
        "token_masks": load("inputs/lang_masks"),
        "state": load("inputs/state_normalized_padded"),
    }
