"""Chunk scheduling: dropping passed actions, stamps, dt, velocity capping, temporal ensembling."""
import numpy as np
import pytest

from pi0_policy.policy.chunking import (PlanSettings, cap_chunk, cap_step_velocity, ensemble_weights,
                                        first_future_index, plan_chunk, schedule_chunk, temporal_ensemble)

DT = 0.02  # 50 Hz


def chunk_of(h=50, d=3):
    return np.arange(h * d, dtype=np.float64).reshape(h, d)


def test_nothing_passed_keeps_every_action_and_stamps_at_observation():
    acts = chunk_of()
    s = schedule_chunk(acts, obs_time=100.0, now=100.0, dt=DT)
    assert s.first == 0
    assert s.start == pytest.approx(100.0)
    np.testing.assert_array_equal(s.actions, acts)
    np.testing.assert_allclose(s.times_from_start, DT * np.arange(1, 51))
    assert s.end == pytest.approx(100.0 + 50 * DT)


@pytest.mark.parametrize("latency, first", [(0.019, 0), (0.02, 1), (0.021, 1), (0.085, 4), (0.1, 5)])
def test_actions_whose_time_passed_during_inference_are_dropped(latency, first):
    acts = chunk_of()
    s = schedule_chunk(acts, obs_time=10.0, now=10.0 + latency, dt=DT)
    assert s.first == first
    np.testing.assert_array_equal(s.actions, acts[first:])
    # starts at the robot's present: within one period before now, every point in the future
    assert 10.0 + latency - DT < s.start <= 10.0 + latency + 1e-9
    assert np.all(s.target_times() > 10.0 + latency)
    # action k keeps its target time obs_time + (k + 1) dt
    np.testing.assert_allclose(s.target_times(), 10.0 + DT * np.arange(first + 1, 51))


def test_every_action_passed_gives_an_empty_chunk():
    s = schedule_chunk(chunk_of(h=10), obs_time=0.0, now=1.0, dt=DT)
    assert s.actions.shape == (0, 3) and len(s.times_from_start) == 0


def test_max_actions_limits_the_kept_part():
    s = schedule_chunk(chunk_of(), obs_time=0.0, now=0.05, dt=DT, max_actions=25)
    assert s.first == 2 and len(s.actions) == 25
    np.testing.assert_array_equal(s.actions[0], chunk_of()[2])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="dt must be > 0"):
        first_future_index(0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="2-D"):
        schedule_chunk(np.zeros(5), 0.0, 0.0, DT)
    with pytest.raises(ValueError, match="max_actions"):
        schedule_chunk(chunk_of(), 0.0, 0.0, DT, max_actions=0)


def test_clock_behind_observation_keeps_everything():
    assert first_future_index(obs_time=5.0, now=4.9, dt=DT) == 0


def test_cap_step_velocity_limits_the_jump_from_the_measured_position():
    current = np.array([0.0, 1.0])
    targets = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    out = cap_step_velocity(current, targets, max_velocity=np.array([10.0, 10.0]), dt=0.02)  # 0.2 rad/step
    np.testing.assert_allclose(out[:, 0], [0.2, 0.4, 0.6])
    np.testing.assert_allclose(out[:, 1], [1.0, 1.0, 1.0])


def test_cap_step_velocity_leaves_slow_chunks_unchanged():
    current = np.zeros(2)
    targets = np.cumsum(np.full((5, 2), 0.01), axis=0)
    np.testing.assert_allclose(cap_step_velocity(current, targets, np.array([1.0, 1.0]), 0.02), targets)
    with pytest.raises(ValueError, match="max_velocity"):
        cap_step_velocity(current, targets, np.array([1.0, 0.0]), 0.02)


def test_ensemble_weights_favour_older_chunks_like_act():
    w = ensemble_weights(np.arange(3), decay=0.5)
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, np.exp(-0.5 * np.arange(3)) / np.exp(-0.5 * np.arange(3)).sum())
    np.testing.assert_allclose(ensemble_weights(np.arange(4), 0.0), 0.25)


def test_temporal_ensemble_blends_only_overlapping_times():
    old = schedule_chunk(np.zeros((10, 1)), obs_time=0.0, now=0.0, dt=DT)         # targets 0.02 .. 0.20
    new = schedule_chunk(np.ones((10, 1)), obs_time=0.1, now=0.1, dt=DT)          # targets 0.12 .. 0.30
    out = temporal_ensemble([old], new, decay=0.0)
    assert out.start == new.start
    # targets 0.12..0.20 (5 actions) overlap with the old chunk: mean of 0 and 1; the rest are new.
    np.testing.assert_allclose(out.actions[:5, 0], 0.5)
    np.testing.assert_allclose(out.actions[5:, 0], 1.0)
    np.testing.assert_array_equal(temporal_ensemble([], new, 0.0).actions, new.actions)


# ---- the node's planning step as pure functions: lead, cap + clamp, plan_chunk ---------------
def settings(**kw):
    base = dict(dt=DT, joint_cols=(0, 1), max_velocity=np.array([1.0, 1.0]),
                clamp=lambda a: np.clip(a, -2.0, 2.0))
    return PlanSettings(**{**base, **kw})


@pytest.mark.parametrize("lead, first", [(0.0, 1), (0.4 * DT, 1), (0.5 * DT, 2), (DT, 2), (2.5 * DT, 4)])
def test_lead_drops_the_actions_due_before_they_could_arrive(lead, first):
    s = schedule_chunk(chunk_of(), obs_time=10.0, now=10.0 + 1.5 * DT, dt=DT, lead=lead)
    assert s.first == first
    # every point is due after now + lead: it still lies in the future when it arrives
    assert s.target_times()[0] > 10.0 + 1.5 * DT + lead - 1e-9


def test_negative_lead_is_named():
    with pytest.raises(ValueError, match="lead must be >= 0"):
        schedule_chunk(chunk_of(), 0.0, 0.0, DT, lead=-1.0)


def test_cap_chunk_caps_joints_from_the_measurement_and_clamps_every_column():
    chunk = schedule_chunk(np.array([[1.0, 0.0, 5.0]] * 3), obs_time=0.0, now=0.0, dt=DT)
    capped = cap_chunk(chunk, np.array([0.0, 0.0]), [0, 1], np.array([1.0, 1.0]), lambda a: np.clip(a, -2, 2))
    np.testing.assert_allclose(capped.actions[:, 0], [DT, 2 * DT, 3 * DT])  # 1 rad/s from 0
    np.testing.assert_allclose(capped.actions[:, 2], [2.0, 2.0, 2.0])       # clamped, not capped
    assert capped.start == chunk.start and capped.first == chunk.first
    uncapped = cap_chunk(chunk, None, [0, 1], np.array([1.0, 1.0]), lambda a: a)
    np.testing.assert_allclose(uncapped.actions, chunk.actions)


def test_plan_chunk_open_loop_schedules_caps_and_keeps_no_history():
    acts = np.zeros((10, 3))
    acts[:, 0] = 1.0
    plan = plan_chunk(acts, obs_time=5.0, now=5.0 + 0.5 * DT, current=np.zeros(2), history=(),
                      settings=settings(lead=DT))
    assert plan.chunk is not None and plan.history == () and plan.reason == ""
    assert plan.chunk.first == 1 and len(plan.chunk.actions) == 9
    assert plan.chunk.actions[0, 0] == pytest.approx(DT)  # capped from the measured 0


def test_plan_chunk_with_every_action_late_holds_with_a_reason():
    plan = plan_chunk(np.zeros((5, 3)), obs_time=0.0, now=1.0, current=None, history=(), settings=settings())
    assert plan.chunk is None and plan.history == ()
    assert plan.reason == "inference took 1.00 s, longer than the whole chunk"


def test_plan_chunk_temporal_ensemble_blends_and_remembers_raw_chunks():
    s = settings(mode="temporal_ensemble", decay=0.0, max_history=2, clamp=lambda a: a)
    first = plan_chunk(np.zeros((10, 3)), 0.0, 0.0, None, (), s)
    second = plan_chunk(np.full((10, 3), 2.0), DT, DT, None, first.history, s)
    assert len(second.history) == 2
    np.testing.assert_allclose(second.history[-1].actions, 2.0)       # raw, not blended
    np.testing.assert_allclose(second.chunk.actions[:9], 1.0)          # mean of 0 and 2 where both cover
    np.testing.assert_allclose(second.chunk.actions[9:], 2.0)
    third = plan_chunk(np.full((10, 3), 4.0), 2 * DT, 2 * DT, None, second.history, s)
    fourth = plan_chunk(np.full((10, 3), 6.0), 3 * DT, 3 * DT, None, third.history, s)
    assert len(third.history) == len(fourth.history) == 3  # max_history earlier chunks + the new one
    np.testing.assert_allclose(fourth.history[0].actions, 2.0)  # the oldest (zeros) was dropped
