"""The thread and dtype policy: what ``dtype: auto`` and ``num_threads: 0`` mean on this machine.

Pure decision functions (`choose_dtype`, `choose_threads`, `decide`) take the facts as arguments,
so they are tested with made-up machines; `detect_machine` reads the facts of this one.

dtype ``auto``: bfloat16 on CUDA, and on CPUs with native bf16 arithmetic (AVX512_BF16 or AMX-BF16)
for models of at least `BF16_MIN_PARAMETERS`; float32 elsewhere. Without native bf16 a CPU emulates
it (the full π0 in bf16 ran > 10× slower than fp32 on an AVX2 CPU), and a tiny model is dominated by
per-operator overhead, where the extra conversions make bf16 slower than float32.

num_threads ``0`` (auto): one torch thread for models under `MULTI_THREAD_MIN_PARAMETERS` (their
matrices are too small to split: 2 threads were slower than 1 for pi0_tiny on 2 cores); otherwise
every core this process may run on, less one for the node's own callbacks when there are
`RESERVE_CORE_FROM` or more. A positive value is used as given (capped at nothing: the user knows).

Packed weights (`pi0_policy.model.packed_linear`): on a CPU, when the model is not compiled, in
float32 or bfloat16, for models of at least `PACK_MIN_PARAMETERS`. Measured on 2 cores, one
thread, rounds interleaved: the full π0's parts 1.3–1.5× faster (float32), `pi0_small` about the
same (1.02×), `pi0_tiny` 10 % slower (its matrices are so small that oneDNN's per-call cost shows).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
WEIGHT_PACKING = {"auto": None, "packed": True, "plain": False}  # the node's `weight_packing` → pack=
COMPILE_MODES = ("none", "steps", "all")  # `Pi0Model.compiled`; not "off": YAML reads an unquoted off as false
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_MIN_PARAMETERS = 5_000_000
MULTI_THREAD_MIN_PARAMETERS = 50_000_000
RESERVE_CORE_FROM = 4
PACK_MIN_PARAMETERS = 5_000_000


@dataclass(frozen=True)
class Machine:
    """The facts the policy depends on."""

    cores: int  # cores this process may run on (its CPU affinity)
    cpu_flags: frozenset  # /proc/cpuinfo flags (empty where unknown)


@dataclass(frozen=True)
class RuntimeChoice:
    """What was chosen, and why (for the node's log)."""

    dtype: str
    num_threads: int
    reason: str
    pack: bool = False  # linear weights packed for oneDNN (`Pi0Model.pack_weights`)

    def describe(self) -> str:
        packed = ", linear weights packed for oneDNN" if self.pack else ""
        return f"dtype {self.dtype}, {self.num_threads} torch thread(s){packed} ({self.reason})"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset:
    """The CPU feature flags of the first processor in ``cpuinfo`` (empty if unreadable)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def usable_cores() -> int:
    """Cores this process may run on (affinity, e.g. a container's or taskset's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def detect_machine() -> Machine:
    return Machine(cores=usable_cores(), cpu_flags=cpu_flags())


def native_bf16(flags) -> bool:
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def choose_dtype(requested: str, device: str, parameters: int | None, machine: Machine) -> tuple[str, str]:
    """(dtype, reason). ``requested`` other than "auto" is returned as given (after checking it).

    ``parameters`` None (unknown size) counts as a large model."""
    if requested not in DTYPE_CHOICES:
        raise ValueError(f"unknown dtype {requested!r}; choose one of {list(DTYPE_CHOICES)}")
    if requested != "auto":
        return requested, "dtype as set"
    if str(device).startswith("cuda"):
        return "bfloat16", "auto: CUDA"
    if not native_bf16(machine.cpu_flags):
        return "float32", "auto: this CPU has no native bf16 (no AVX512_BF16/AMX)"
    if parameters is not None and parameters < BF16_MIN_PARAMETERS:
        return "float32", f"auto: native bf16, but a small model ({parameters:,} parameters) is faster in float32"
    return "bfloat16", "auto: native bf16 CPU"


def choose_threads(requested: int, device: str, parameters: int | None, machine: Machine) -> tuple[int, str]:
    """(torch threads, reason). ``requested`` > 0 is used as given; 0 chooses (see the module doc)."""
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 0:
        raise ValueError(f"num_threads must be an integer >= 0 (0 = auto), got {requested!r}")
    if requested > 0:
        return requested, "threads as set"
    cores = max(1, machine.cores)
    if str(device).startswith("cuda"):
        return 1, "auto: CUDA (one host thread launches kernels)"
    if parameters is not None and parameters < MULTI_THREAD_MIN_PARAMETERS:
        return 1, f"auto: {parameters:,} parameters are too few to split over threads"
    threads = cores - 1 if cores >= RESERVE_CORE_FROM else cores
    spare = " (one kept for the node)" if threads < cores else ""
    return threads, f"auto: {threads} of {cores} cores{spare}"


def choose_packing(device: str, dtype: str, parameters: int | None, compile: str = "none") -> tuple[bool, str]:
    """(pack the linear weights?, reason): see the module doc."""
    if not str(device).startswith("cpu"):
        return False, "no packing off the CPU"
    if compile != "none":
        return False, "no packing: compiled"
    if parameters is not None and parameters < PACK_MIN_PARAMETERS:
        return False, f"no packing: {parameters:,} parameters are too few to gain"
    import torch

    from pi0_policy.model.packed_linear import packing_unavailable

    why_not = packing_unavailable(device, getattr(torch, dtype))
    return (False, f"no packing: {why_not}") if why_not else (True, "packed: CPU inference")


def decide(dtype: str, num_threads: int, device: str, parameters: int | None,
           machine: Machine | None = None, compile: str = "none") -> RuntimeChoice:
    """The dtype, thread and packing choices for a model of ``parameters`` on ``device`` (this
    machine unless given), compiled as ``compile``."""
    machine = machine or detect_machine()
    chosen_dtype, dtype_reason = choose_dtype(dtype, device, parameters, machine)
    threads, thread_reason = choose_threads(num_threads, device, parameters, machine)
    pack, pack_reason = choose_packing(device, chosen_dtype, parameters, compile)
    return RuntimeChoice(chosen_dtype, threads, f"{dtype_reason}; {thread_reason}; {pack_reason}", pack)


def count_parameters(checkpoint: str | Path) -> int | None:
    """Parameters in a checkpoint directory's safetensors file(s), from their headers only
    (no weights read); None when the directory has none."""
    from safetensors import safe_open

    files = sorted(Path(checkpoint).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                shape = f.get_slice(key).get_shape()
                count = 1
                for size in shape:
                    count *= size
                total += count
    return total


def apply_threads(num_threads: int) -> None:
    """Set torch's intra-op threads for this process."""
    import torch

    torch.set_num_threads(num_threads)
