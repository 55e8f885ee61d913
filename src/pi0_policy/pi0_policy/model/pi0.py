"""The π0 network (arXiv 2410.24164): PaliGemma + action expert, flow matching over action chunks.

Axis letters: b batch, n cameras, c channels, l prompt tokens, p prefix tokens, H action horizon,
a max_action_dim, z max_state_dim, w width.

Sequence: prefix = [image tokens of each camera, prompt tokens] (language model), suffix =
[state token, H action tokens] (action expert); blockwise causal mask in `masks.py`.

Time convention (openpi/LeRobot, "opposite of the pi0 paper", kept so public checkpoints give
their actions): t = 1 is pure noise, t = 0 the data; x_t = t·ε + (1 − t)·A; the network predicts
the velocity u = ε − A; sampling integrates from t = 1 to 0 with Euler steps dt = −1/num_steps.
The paper writes A^τ = τ·A + (1 − τ)·ε, i.e. τ = 1 − t.

Inference (`sample_actions` = `encode_observation` + `denoise`): one forward over the prefix and
the state token fills the key/value cache (the state token depends on neither x_t nor t, so its
keys/values are computed once); each Euler step then runs only the H action tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import SiglipVisionConfig, SiglipVisionModel

from . import masks
from .config import Pi0Config
from .packed_linear import PackedLinear, pack_linear_weights, weight_device, weight_dtype
from .shared_attention import GemmaStack, KVCache, check_attention, rope_cos_sin, shared_forward
from .time_embedding import sample_time, sinusoidal_time_embedding


class _Holder(nn.Module):
    """A named container, so that module paths match the checkpoints' keys."""

    def __init__(self, **modules: nn.Module):
        super().__init__()
        for name, module in modules.items():
            setattr(self, name, module)


class PaliGemmaWithExpert(nn.Module):
    """paligemma.model.{vision_tower, multi_modal_projector.linear, language_model}, gemma_expert.model."""

    def __init__(self, config: Pi0Config):
        super().__init__()
        v = config.vision
        vision_config = SiglipVisionConfig(
            hidden_size=v.width, intermediate_size=v.mlp_dim, num_hidden_layers=v.depth,
            num_attention_heads=v.num_heads, image_size=v.image_size, patch_size=v.patch_size,
            hidden_act="gelu_pytorch_tanh", layer_norm_eps=config.norm_eps, vision_use_head=False,
        )
        vision_config._attn_implementation = "sdpa"
        self.paligemma = _Holder(model=_Holder(
            vision_tower=SiglipVisionModel(vision_config),
            multi_modal_projector=_Holder(linear=nn.Linear(v.width, config.text.width)),
            language_model=GemmaStack(config.text, config.vocab_size, config.norm_eps, with_embedding=True),
        ))
        self.gemma_expert = _Holder(
            model=GemmaStack(config.expert, config.vocab_size, config.norm_eps, with_embedding=False)
        )

    @property
    def stacks(self) -> list[GemmaStack]:
        return [self.paligemma.model.language_model, self.gemma_expert.model]


@dataclass
class ObservationCache:
    """What `encode_observation` computes once per observation: keys/values of the prefix and the
    state token, their validity, and the number of valid tokens (the next RoPE position)."""

    kv: KVCache  # per layer Float[b, g, p + 1 + room, d]: filled slots first, then room for the actions
    valid: Tensor  # Bool[b, p + 1]
    next_position: Tensor  # Long[b]
    # What every Euler step over H action tokens shares (computed once per observation):
    step_mask: Tensor | None = None  # Float32[b, 1, H, p + 1 + H] additive
    step_rope: tuple[Tensor, Tensor] | None = None  # cos, sin Float32[b, 1, H, d] of the action positions

    @property
    def length(self) -> int:
        """The number of filled cache slots (prefix and state tokens)."""
        return self.valid.shape[1]

    @property
    def room(self) -> int:
        """Free slots after them, into which each Euler step writes its action tokens' keys/values."""
        return self.kv[0][0].shape[2] - self.length


class Pi0Model(nn.Module):
    """π0: `compute_loss` for training, `sample_actions` for inference. See the module docstring."""

    def __init__(self, config: Pi0Config):
        super().__init__()
        self.config = config
        w, a = config.expert.width, config.max_action_dim
        self.paligemma_with_expert = PaliGemmaWithExpert(config)
        self.state_proj = nn.Linear(config.max_state_dim, w)
        self.action_in_proj = nn.Linear(a, w)
        self.action_time_mlp_in = nn.Linear(2 * w, w)
        self.action_time_mlp_out = nn.Linear(w, w)
        self.action_out_proj = nn.Linear(w, a)
        self._compiled_step = None
        self._compiled_loop = None
        self._compiled_observation = None
        self._attention = "sdpa"

    @property
    def attention(self) -> str:
        """The shared layers' attention: "sdpa" (fused, the default) or "eager" (the reference)."""
        return self._attention

    @attention.setter
    def attention(self, name: str) -> None:
        self._attention = check_attention(name)

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype (that of the projection weights; norms may be kept in float32)."""
        return weight_dtype(self.state_proj)

    @property
    def device(self) -> torch.device:
        return weight_device(self.state_proj)

    @property
    def packed(self) -> bool:
        """Whether `pack_weights` packed the linear layers (CPU inference only from then on)."""
        return isinstance(self.state_proj, PackedLinear)

    def pack_weights(self) -> int:
        """Pack every linear layer's weight for oneDNN (`pi0_policy.model.packed_linear`): the fast
        CPU inference path. Irreversible: afterwards the model only samples (no weight gradients,
        no `.to()`, no compile; its state_dict and input gradients still work). Returns the number
        of layers packed; ValueError where it is not possible (not a CPU, another dtype, compiled)."""
        if self.compiled != "none":
            raise ValueError("cannot pack the weights of a compiled model (compile or pack, not both)")
        return pack_linear_weights(self)

    # ----------------------------------------------------------------- input checks
    def _check_observation(self, images, image_masks, tokens, token_masks, state) -> int:
        cfg = self.config
        b = images.shape[0] if images.dim() == 5 else -1
        size = cfg.vision.image_size
        expected = {
            "images": (images, (b, cfg.num_cameras, 3, size, size)),
            "image_masks": (image_masks, (b, cfg.num_cameras)),
            "tokens": (tokens, (b, tokens.shape[-1] if tokens.dim() == 2 else -1)),
            "token_masks": (token_masks, tuple(tokens.shape)),
            "state": (state, (b, cfg.max_state_dim)),
        }
        for name, (tensor, shape) in expected.items():
            if tuple(tensor.shape) != shape or b < 1:
                raise ValueError(
                    f"{name} has shape {tuple(tensor.shape)}, expected {shape} "
                    f"(config {cfg.name!r}: b, cameras={cfg.num_cameras}, image {size}px, "
                    f"max_state_dim={cfg.max_state_dim})"
                )
        for name, tensor in (("images", images), ("state", state)):
            if not torch.isfinite(tensor).all():
                raise ValueError(f"{name} contains NaN or infinite values")
        if tokens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"tokens must be an integer tensor, got {tokens.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= cfg.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {cfg.vocab_size}), got min {int(tokens.min())}, "
                f"max {int(tokens.max())}"
            )
        return b

    def _check_chunk(self, name: str, tensor: Tensor | None, b: int) -> None:
        shape = (b, self.config.action_horizon, self.config.max_action_dim)
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)}, expected {shape} (b, horizon, max_action_dim)"
            )

    # ----------------------------------------------------------------- embeddings
    def embed_images(self, images: Tensor) -> Tensor:
        """Float[b, n·T, w_text]: SigLIP tokens of every camera, projected to the text width.

        Patch/position embeddings run in their own dtype (float32 in mixed precision), the
        encoder in its weights' dtype; image tokens are not scaled.
        """
        b, n = images.shape[:2]
        tower = self.paligemma_with_expert.paligemma.model.vision_tower.vision_model
        pixels = images.reshape(b * n, *images.shape[2:])
        x = tower.embeddings(pixels)
        x = tower.encoder(inputs_embeds=x.to(tower.post_layernorm.weight.dtype)).last_hidden_state
        x = tower.post_layernorm(x)
        linear = self.paligemma_with_expert.paligemma.model.multi_modal_projector.linear
        x = linear(x.to(weight_dtype(linear)))
        return x.reshape(b, n * x.shape[1], x.shape[2]).to(self.dtype)

    def embed_prefix(self, images, image_masks, tokens, token_masks) -> tuple[Tensor, Tensor]:
        """Prefix embeddings Float[b, p, w_text] and validity Bool[b, p].

        Tokens of a masked camera and padded prompt tokens are invalid (never attended to).
        Prompt embeddings are scaled by sqrt(w_text) (Gemma); image tokens are not.
        """
        if self._compiled_observation is not None:
            return self._compiled_observation.embed_prefix(images, image_masks, tokens, token_masks)
        return self._embed_prefix(images, image_masks, tokens, token_masks)

    def _embed_prefix(self, images, image_masks, tokens, token_masks) -> tuple[Tensor, Tensor]:
        cfg, device = self.config, self.device
        image_embs = self.embed_images(images.to(device, torch.float32))
        table = self.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight
        text_embs = F.embedding(tokens.to(device, torch.long), table) * math.sqrt(cfg.text.width)
        embs = torch.cat([image_embs, text_embs.to(self.dtype)], dim=1)
        image_valid = image_masks.to(device, torch.bool).repeat_interleave(cfg.tokens_per_image, dim=1)
        return embs, torch.cat([image_valid, token_masks.to(device, torch.bool)], dim=1)

    def embed_state(self, state: Tensor) -> Tensor:
        """Float[b, 1, w_expert]: the state token."""
        return self.state_proj(state.to(self.device, self.dtype))[:, None]

    def embed_actions(self, x_t: Tensor, time: Tensor) -> Tensor:
        """Float[b, H, w_expert]: MLP(concat(W_a·x_t, sinusoidal(t))) with swish, per action token."""
        cfg = self.config
        actions = self.action_in_proj(x_t.to(self.dtype))
        t_emb = sinusoidal_time_embedding(time, cfg.expert.width, cfg.min_period, cfg.max_period)
        t_emb = t_emb.to(self.dtype)[:, None].expand_as(actions)
        hidden = self.action_time_mlp_in(torch.cat([actions, t_emb], dim=2))
        return self.action_time_mlp_out(F.silu(hidden))

    def _suffix_flags(self, b: int, device) -> tuple[Tensor, Tensor]:
        """Validity and block starts of [state, actions]: state opens a block, the actions another."""
        valid = torch.ones(b, self.config.suffix_len, dtype=torch.bool, device=device)
        block_start = torch.zeros_like(valid)
        block_start[:, :2] = True
        return valid, block_start

    def _velocity(self, expert_out: Tensor) -> Tensor:
        return self.action_out_proj(expert_out[:, -self.config.action_horizon:]).to(torch.float32)

    # ----------------------------------------------------------------- full-sequence forward
    def predict_velocity(self, images, image_masks, tokens, token_masks, state, x_t, time) -> Tensor:
        """Float32[b, H, a]: the velocity for x_t at time t, one forward over the whole sequence
        (prefix, state, actions) as in training; no cache."""
        prefix, prefix_valid = self.embed_prefix(images, image_masks, tokens, token_masks)
        suffix = torch.cat([self.embed_state(state), self.embed_actions(x_t, time)], dim=1)
        b = prefix.shape[0]
        suffix_valid, suffix_start = self._suffix_flags(b, prefix.device)
        valid = torch.cat([prefix_valid, suffix_valid], dim=1)
        block_start = torch.cat([torch.zeros_like(prefix_valid), suffix_start], dim=1)
        mask = masks.additive_mask(masks.attention_mask(valid, block_start))
        (_, expert_out), _ = shared_forward(
            self.paligemma_with_expert.stacks, [prefix, suffix], mask, masks.positions(valid),
            self.config.rope_theta, attention=self.attention,
        )
        return self._velocity(expert_out)

    def compute_loss(self, images, image_masks, tokens, token_masks, state, actions,
                     action_pad_mask=None, noise=None, time=None) -> Tensor:
        """Float32[b, H, a]: per-element squared error between predicted and target velocity.

        actions Float[b, H, a] (normalised, padded); action_pad_mask Bool[b, H], True where the
        step is real (False: past the episode end, loss set to 0); noise Float[b, H, a] ~ N(0, 1)
        and time Float[b] ~ Beta(1.5, 1)·0.999 + 0.001 are drawn when not given.
        Target u = ε − A at x_t = t·ε + (1 − t)·A (see the module docstring for the convention).
        Average as you like (openpi: over all elements; LeRobot: over real action dims).
        """
        b = self._check_observation(images, image_masks, tokens, token_masks, state)
        self._check_chunk("actions", actions, b)
        self._check_chunk("noise", noise, b)
        cfg = self.config
        actions = actions.to(self.device, torch.float32)
        if noise is None:
            noise = torch.randn_like(actions)
        if time is None:
            time = sample_time(b, cfg.time_beta_alpha, cfg.time_beta_beta, cfg.time_scale,
                               cfg.time_offset, device=actions.device)
        if tuple(time.shape) != (b,):
            raise ValueError(f"time has shape {tuple(time.shape)}, expected ({b},)")
        noise, time = noise.to(actions), time.to(actions)
        t = time[:, None, None]
        # openpi/LeRobot convention, the paper's τ = 1 − t: t = 1 is pure noise.
        x_t = t * noise + (1 - t) * actions
        target = noise - actions
        velocity = self.predict_velocity(images, image_masks, tokens, token_masks, state, x_t, time)
        losses = (target - velocity) ** 2
        if action_pad_mask is not None:
            if tuple(action_pad_mask.shape) != (b, cfg.action_horizon):
                raise ValueError(
                    f"action_pad_mask has shape {tuple(action_pad_mask.shape)}, "
                    f"expected {(b, cfg.action_horizon)}"
                )
            losses = losses * action_pad_mask.to(losses.device, torch.bool)[:, :, None]
        return losses

    # ----------------------------------------------------------------- cached inference
    def encode_observation(self, images, image_masks, tokens, token_masks, state) -> ObservationCache:
        """Embed the prefix, then `cache_observation`: everything that does not depend on x_t or t."""
        self._check_observation(images, image_masks, tokens, token_masks, state)
        prefix, prefix_valid = self.embed_prefix(images, image_masks, tokens, token_masks)
        return self.cache_observation(prefix, prefix_valid, state)

    def cache_observation(self, prefix: Tensor, prefix_valid: Tensor, state: Tensor) -> ObservationCache:
        """One forward over the embedded prefix and the state token; keeps their keys/values (with
        room for the action tokens' keys/values of each Euler step, written in place; compiled: no
        room, the steps concatenate)."""
        if self._compiled_observation is not None:
            return self._compiled_observation.cache_observation(prefix, prefix_valid, state)
        return self._cache_observation(prefix, prefix_valid, state, self.config.action_horizon)

    def _cache_observation(self, prefix: Tensor, prefix_valid: Tensor, state: Tensor,
                           cache_room: int) -> ObservationCache:
        b = prefix.shape[0]
        valid = torch.cat([prefix_valid, torch.ones(b, 1, dtype=torch.bool, device=prefix.device)], dim=1)
        block_start = torch.zeros_like(valid)
        block_start[:, -1] = True  # the state token opens its own block: the prefix cannot see it
        mask = masks.additive_mask(masks.attention_mask(valid, block_start))
        position = masks.positions(valid)
        _, kv = shared_forward(
            self.paligemma_with_expert.stacks, [prefix, self.embed_state(state)], mask, position,
            self.config.rope_theta, keep_cache=True, cache_room=cache_room, attention=self.attention,
        )
        next_position = position[:, -1] + 1
        step_mask, step_rope = self._step_inputs(valid, next_position, self.config.action_horizon)
        return ObservationCache(kv=kv, valid=valid, next_position=next_position, step_mask=step_mask,
                                step_rope=step_rope)

    def _step_inputs(self, valid: Tensor, next_position: Tensor, horizon: int) -> tuple[Tensor, tuple]:
        """The additive mask and RoPE of H action tokens after the cached tokens (same at every step)."""
        b = valid.shape[0]
        # Action queries see every valid cached token (prefix and state) and all action tokens.
        allowed = torch.cat([valid[:, None, :].expand(b, horizon, -1),
                             torch.ones(b, horizon, horizon, dtype=torch.bool, device=valid.device)], dim=2)
        position = next_position[:, None] + torch.arange(horizon, device=valid.device)
        rope = rope_cos_sin(position, self.config.expert.head_dim, self.config.rope_theta)
        return masks.additive_mask(allowed), rope

    def denoise_step(self, cache: ObservationCache, x_t: Tensor, time: Tensor) -> Tensor:
        """Float32[b, H, a]: the velocity at x_t, time Float[b], running only the action tokens."""
        horizon = x_t.shape[1]
        if cache.step_mask is not None and cache.step_mask.shape[2] == horizon:
            mask, rope = cache.step_mask, cache.step_rope
        else:
            mask, rope = self._step_inputs(cache.valid, cache.next_position, horizon)
        (_, expert_out), _ = shared_forward(
            self.paligemma_with_expert.stacks, [None, self.embed_actions(x_t, time)],
            mask, None, self.config.rope_theta, past=cache.kv,
            past_length=cache.length if cache.room >= horizon else None, attention=self.attention,
            rope=rope,
        )
        return self._velocity(expert_out)

    def denoise(self, cache: ObservationCache, noise: Tensor | None = None, num_steps: int | None = None,
                step_fn=None) -> Tensor:
        """Float32[b, H, a]: Euler-integrate from t = 1 (noise) to t = 0 using the cached observation.

        step_fn(cache, x_t, time) -> velocity defaults to `denoise_step` (compiled after
        `compile_denoise_step()`); pass a wrapper to inspect intermediate steps. After
        `compile_denoise()` (and without step_fn) all the steps run as one compiled graph.
        """
        if step_fn is None and self._compiled_loop is not None:
            return self._compiled_loop(cache, noise, num_steps)
        step_fn = step_fn or self._compiled_step or self.denoise_step
        b = cache.valid.shape[0]
        return self._euler(lambda x_t, time: step_fn(cache, x_t, time), b, noise, num_steps)

    def _steps_and_noise(self, b: int, noise: Tensor | None, num_steps: int | None) -> tuple[int, Tensor]:
        """The checked number of Euler steps and the starting noise Float32[b, H, a] (drawn if None)."""
        num_steps = self.config.num_steps if num_steps is None else int(num_steps)
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        self._check_chunk("noise", noise, b)
        if noise is None:
            noise = torch.randn(b, self.config.action_horizon, self.config.max_action_dim, device=self.device)
        return num_steps, noise.to(self.device, torch.float32)

    def _euler(self, velocity, b: int, noise: Tensor | None, num_steps: int | None) -> Tensor:
        """x ← x + dt·v(x, t) for t = 1, 1 + dt, ..., dt = −1/num_steps, starting from the noise."""
        num_steps, x_t = self._steps_and_noise(b, noise, num_steps)
        dt = -1.0 / num_steps  # from t = 1 (noise) down to 0 (actions): the paper's τ from 0 to 1
        for k in range(num_steps):
            time = torch.full((b,), 1.0 + k * dt, dtype=torch.float32, device=x_t.device)
            x_t = x_t + dt * velocity(x_t, time)
        return x_t

    def compile_denoise_step(self, **compile_kwargs) -> None:
        """Use torch.compile(denoise_step, **compile_kwargs) for the Euler steps from now on."""
        self._compiled_step = torch.compile(self.denoise_step, **compile_kwargs)

    def compile_denoise(self, mode: str | None = None, observation: bool = False, **compile_kwargs) -> None:
        """Run all the Euler steps of `denoise` as one compiled graph from now on (CUDA: captured as
        CUDA graphs); see `pi0_policy.model.compiled_denoise`. observation=True compiles the prefix
        embedding and the cache forward too (`pi0_policy.model.compiled_observation`): the whole
        chunk captured. `uncompile_denoise()` undoes both."""
        from .compiled_denoise import CompiledDenoise
        from .compiled_observation import CompiledObservation

        if self.packed:
            raise ValueError("cannot compile a model with packed weights (compile or pack, not both)")

        self._compiled_loop = CompiledDenoise(self, mode, **compile_kwargs)
        if observation:
            self._compiled_observation = CompiledObservation(self, mode, **compile_kwargs)

    @property
    def compiled(self) -> str:
        """What `compile_denoise` compiled: "all" (observation and steps), "steps" or "none"."""
        if self._compiled_observation is not None:
            return "all"
        return "steps" if self._compiled_loop is not None else "none"

    def uncompile_denoise(self) -> None:
        self._compiled_loop = None
        self._compiled_step = None
        self._compiled_observation = None

    @torch.no_grad()
    def sample_actions(self, images, image_masks, tokens, token_masks, state, noise=None,
                       num_steps: int | None = None, use_cache: bool = True) -> Tensor:
        """Float32[b, H, a]: a sampled (normalised, padded) action chunk.

        images Float[b, n, 3, S, S] in [-1, 1]; image_masks Bool[b, n] (False: missing camera);
        tokens Long[b, l], token_masks Bool[b, l]; state Float[b, z] (normalised, padded);
        noise Float[b, H, a] (drawn from N(0, 1) when None); num_steps Euler steps (config default 10).
        use_cache=False recomputes the whole sequence at every step (reference/benchmark only).
        """
        if use_cache:
            cache = self.encode_observation(images, image_masks, tokens, token_masks, state)
            return self.denoise(cache, noise, num_steps)
        b = self._check_observation(images, image_masks, tokens, token_masks, state)
        observation = (images, image_masks, tokens, token_masks, state)
        velocity = lambda x_t, time: self.predict_velocity(*observation, x_t, time)  # noqa: E731
        return self._euler(velocity, b, noise, num_steps)
