"""The demo's figures of merit (pure functions) and its pictures."""
import math

import numpy as np
import pytest

from pi0_bringup.figures import save_camera_views, save_joint_plot
from pi0_bringup.monitor import joint_motion, summarize


def test_joint_motion_sums_steps_and_ignores_missing_samples():
    positions = np.array([[0.0, 1.0], [0.5, 1.0], [np.nan, 0.0], [-0.5, 0.0]])
    path, largest = joint_motion(positions)
    # joint 0: |0.5| then NaN steps ignored; joint 1: |-1.0| (1→0), then 0.
    assert path == pytest.approx(0.5 + 1.0)
    assert largest == pytest.approx(1.0)
    assert joint_motion(np.zeros((1, 3))) == (0.0, 0.0)
    assert joint_motion(np.zeros((0, 3))) == (0.0, 0.0)


def test_summarize_without_status_or_chunks():
    summary = summarize([], np.zeros((0, 2)), None)
    assert summary["chunks_received"] == 0 and math.isnan(summary["mean_latency"])
    assert summary["lifecycle_state"] == "unknown" and summary["faults"] == []
    summary = summarize([(1.0, 0, 0.2, 50), (1.5, 1, 0.4, 50)], np.array([[0.0], [0.3]]), None)
    assert summary["chunks_received"] == 2 and summary["mean_latency"] == pytest.approx(0.3)
    assert summary["joint_path_length"] == pytest.approx(0.3)


def test_pictures_are_written(tmp_path):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = 255
    views = save_camera_views(tmp_path / "views.png", {"base": image}, {"base": image, "left_wrist": image},
                              ["base", "left_wrist"], title="t")
    plot = save_joint_plot(tmp_path / "joints.png", np.array([0.0, 1.0]), np.array([[0.0, 1.0], [1.0, 0.5]]),
                           ["a", "b"], chunk_times=[0.5])
    import matplotlib.image

    assert matplotlib.image.imread(views).shape[:2] == (560, 640)  # 2 rows of 3.2 x 2.8 in at 100 dpi
    assert matplotlib.image.imread(plot).shape[:2] == (400, 960)
