"""`make_policy(params)`: the policy backend the node runs, chosen by the ``backend`` parameter.

- ``local``: `Pi0Policy` over ``checkpoint`` on ``device`` (``dtype``, ``num_threads``, ``compile``,
  ``weight_packing``, ``num_steps``);
- ``remote``: `RemotePolicy` to ``server_uri`` (``api_key``, ``server_timeout``): a ``pi0 serve``
  or openpi policy server. It connects here (a server that is down or refuses fails configure
  with the reason); later losses are faults the node rides out: hold, reconnect with backoff.
"""
from __future__ import annotations

import os

from pi0_policy.policy.runtime import WEIGHT_PACKING

BACKENDS = ("local", "remote")


def make_policy(params):
    """The backend named by ``params.backend`` (a `PolicyParams`), ready to ``infer``."""
    backend = getattr(params, "backend", "local")
    if backend == "local":
        from pi0_policy.policy.local import Pi0Policy

        return Pi0Policy.from_checkpoint(params.checkpoint, device=params.device, dtype=params.dtype,
                                         num_steps=params.num_steps,
                                         num_threads=getattr(params, "num_threads", 0),
                                         compile=getattr(params, "compile", "none"),
                                         pack=WEIGHT_PACKING[getattr(params, "weight_packing", "auto")])
    if backend == "remote":
        from pi0_policy.policy.remote import RemotePolicy

        api_key = params.api_key or os.environ.get("PI0_API_KEY") or None
        return RemotePolicy(params.server_uri, api_key=api_key, timeout=params.server_timeout)
    raise ValueError(f"parameter backend={backend!r}: choose one of {list(BACKENDS)}")
