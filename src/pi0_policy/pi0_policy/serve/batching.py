"""Several observations through `Pi0Policy` in one forward pass (one batch).

Each observation is preprocessed on its own (a bad one fails alone, with its ``ValueError``);
the good ones are concatenated along the batch dimension, run through one observation forward
and one set of flow-matching steps, and split again. Sampling noise is drawn per observation
unless the observation brings its own, so a batched result equals the single one for the same
noise (up to float reassociation: see the tests' tolerance).
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch

STAGES = ("preprocess", "observation_forward", "action_steps", "postprocess")


def infer_batch(policy, observations: Sequence[dict]) -> list[Any]:
    """One result per observation: ``{"actions", "timing"}`` (timing of the whole batch, seconds,
    plus ``batch_size``), or the exception its preprocessing raised."""
    results: list[Any] = [None] * len(observations)
    start = time.perf_counter()
    good, inputs = [], []
    for i, obs in enumerate(observations):
        try:
            inputs.append(policy.preprocess(obs))
            good.append(i)
        except ValueError as e:
            results[i] = e
    if not good:
        return results
    model, cfg = policy.model, policy.info.config
    noise = [x.pop("noise") for x in inputs]
    noise = torch.cat([n if n is not None else torch.randn(1, cfg.action_horizon, cfg.max_action_dim,
                                                           device=model.device) for n in noise])
    batch = {key: torch.cat([x[key] for x in inputs]) for key in inputs[0]}
    policy._sync()
    timing = {"preprocess": time.perf_counter() - start}
    with torch.inference_mode():
        start = time.perf_counter()
        cache = model.encode_observation(**batch)
        policy._sync()
        timing["observation_forward"] = time.perf_counter() - start
        start = time.perf_counter()
        actions = model.denoise(cache, noise, policy.num_steps)
        policy._sync()
        timing["action_steps"] = time.perf_counter() - start
    start = time.perf_counter()
    outs = [policy.postprocess(actions[k:k + 1]) for k in range(len(good))]
    timing["postprocess"] = time.perf_counter() - start
    timing["batch_size"] = len(good)
    for k, i in enumerate(good):
        results[i] = {"actions": outs[k], "timing": dict(timing)}
    return results
