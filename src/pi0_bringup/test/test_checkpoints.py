"""Which checkpoint a bringup uses: a given directory, or (simulation only) a random tiny π0."""
import json
import os
import subprocess
import sys

import pytest

from pi0_bringup import robots
from pi0_bringup.checkpoints import random_checkpoint, resolve_checkpoint


def test_random_checkpoint_is_made_once_for_the_spec_and_replaced_when_dims_differ(tmp_path):
    ur5e, franka = robots.embodiment_spec("ur5e"), robots.embodiment_spec("franka")
    folder = random_checkpoint(ur5e, tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    assert (config["state_dim"], config["action_dim"], config["preset"]) == (7, 7, "pi0_tiny")
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert random_checkpoint(ur5e, tmp_path / "ckpt") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp, "an existing checkpoint is reused"
    random_checkpoint(franka, folder)
    assert json.loads((folder / "config.json").read_text())["state_dim"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], "no staging folder left behind"


def test_resolve_checkpoint(tmp_path, monkeypatch):
    spec = robots.embodiment_spec("ur5e")
    assert resolve_checkpoint(spec, str(tmp_path), "real") == (str(tmp_path), "")
    with pytest.raises(FileNotFoundError, match="checkpoint directory '/no/such' does not exist"):
        resolve_checkpoint(spec, "/no/such", "sim")
    with pytest.raises(ValueError, match="hardware real needs a checkpoint"):
        resolve_checkpoint(spec, "", "real")
    monkeypatch.setenv("PI0_CACHE_DIR", str(tmp_path / "cache"))
    path, note = resolve_checkpoint(spec, "", "sim")
    assert path == str(tmp_path / "cache" / "random_pi0_tiny_7x7_seed0")
    assert "randomly initialised tiny π0" in note and "not a skill" in note


def test_module_entry_point_prints_the_checkpoint_path(tmp_path):
    """What `ros2 launch` falls back to when its Python has no torch."""
    env = {**os.environ, "PI0_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "pi0_bringup.checkpoints", "mobile_arx"],
                            capture_output=True, text=True, env=env, timeout=120, check=True)
    path = result.stdout.strip().splitlines()[-1]
    assert path == str(tmp_path / "random_pi0_tiny_14x16_seed0")
    assert json.loads((tmp_path / "random_pi0_tiny_14x16_seed0" / "config.json").read_text())["action_dim"] == 16
