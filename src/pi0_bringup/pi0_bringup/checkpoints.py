"""Which checkpoint a bringup uses when none is given.

No π0 weights can be downloaded by this project, so a simulated robot started without a
checkpoint runs a randomly initialised tiny π0 (preset pi0_tiny) with the robot's state and
action dimensions, created once in a cache folder. It exercises the whole pipeline (cameras,
state, instruction → chunks → the robot moving) but has learnt nothing. A real robot needs a
real checkpoint (`pi0 checkpoint convert`): without one, `resolve_checkpoint` refuses.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_PRESET = "pi0_tiny"


def cache_dir() -> Path:
    """$PI0_CACHE_DIR, else $XDG_CACHE_HOME/pi0_ros, else ~/.cache/pi0_ros."""
    if os.environ.get("PI0_CACHE_DIR"):
        return Path(os.environ["PI0_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pi0_ros"


def _matches(folder: Path, spec, preset: str, seed: int) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    source = config.get("source") or {}
    return (
        (folder / "model.safetensors").is_file()
        and (config.get("state_dim"), config.get("action_dim")) == (spec.state_dim, spec.action_dim)
        and source.get("preset", preset) == preset
        and source.get("seed", seed) == seed
    )


def random_checkpoint(spec, folder=None, preset: str = DEFAULT_PRESET, seed: int = 0) -> Path:
    """A random-weight π0 checkpoint sized for `spec` in `folder`, created unless one is there.

    Default folder: `cache_dir()/random_<preset>_<state_dim>x<action_dim>_seed<seed>`. A folder
    holding a checkpoint of other dimensions, preset or seed is replaced. Creation writes to a
    temporary sibling folder and renames it, so concurrent callers never see half a checkpoint.
    """
    from pi0_policy.policy.demo_checkpoint import make_random_checkpoint

    if folder is None:
        folder = cache_dir() / f"random_{preset}_{spec.state_dim}x{spec.action_dim}_seed{seed}"
    folder = Path(folder)
    if _matches(folder, spec, preset, seed):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        make_random_checkpoint(
            staging, preset, state_dim=spec.state_dim, action_dim=spec.action_dim, seed=seed
        )
        if folder.exists() and not _matches(folder, spec, preset, seed):
            shutil.rmtree(folder)
        try:
            staging.rename(folder)
        except OSError:
            if not _matches(folder, spec, preset, seed):  # not a concurrent creator's complete copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def resolve_checkpoint(spec, checkpoint: str, hardware: str) -> tuple[str, str]:
    """(checkpoint directory, note for the user) for a bringup.

    A given `checkpoint` must be a directory (else FileNotFoundError naming it). None given:
    with `hardware="sim"` the random tiny π0 of `random_checkpoint`; with `hardware="real"` a
    ValueError (a random model must not drive real hardware).
    """
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint directory {checkpoint!r} does not exist")
        return str(path), ""
    if hardware != "sim":
        raise ValueError(
            "hardware real needs a checkpoint (checkpoint:=DIR / --checkpoint DIR): a random model must not "
            "drive real hardware. Convert one with `pi0 checkpoint convert`."
        )
    path = _random_checkpoint_anywhere(spec)
    return str(path), (
        f"no checkpoint given: using a randomly initialised tiny π0 ({DEFAULT_PRESET}) at {path}; "
        "it shows the pipeline, not a skill"
    )


def _random_checkpoint_anywhere(spec) -> Path:
    """`random_checkpoint(spec)`, also from a Python without torch.

    `ros2 launch` runs /usr/bin/python3, which may not see the virtual environment that has
    torch; then the checkpoint is made by the `python3` on PATH (the activated environment's).
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        python = shutil.which("python3")
        if not python or Path(python).resolve() == Path(sys.executable).resolve():
            raise ImportError(
                "torch is not importable, so no random π0 checkpoint can be made: activate the pi0-ros "
                "environment (source scripts/env.sh) or give checkpoint:=DIR"
            ) from None
        result = subprocess.run(
            [python, "-m", "pi0_bringup.checkpoints", spec.name], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{python} -m pi0_bringup.checkpoints {spec.name} failed:\n{result.stderr}")
        return Path(result.stdout.strip().splitlines()[-1])
    return random_checkpoint(spec)


if __name__ == "__main__":  # python -m pi0_bringup.checkpoints EMBODIMENT: print the checkpoint path
    from pi0_hw_interfaces.embodiment import load_embodiment

    print(random_checkpoint(load_embodiment(sys.argv[1])))
