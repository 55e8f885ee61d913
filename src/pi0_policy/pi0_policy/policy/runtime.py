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
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
COMPILE_MODES = ("none", "steps", "all")  # `Pi0Model.compiled`; not "off": YAML reads an unquoted off as false
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_MIN_PARAMETERS = 5_000_000
MULTI_THREAD_MIN_PARAMETERS = 50_000_000
RESERVE_CORE_FROM = 4


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

    def describe(self) -> str:
        return f"dtype {self.dtype}, {self.num_threads} torch thread(s) ({self.reason})"


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


def decide(dtype: str, num_threads: int, device: str, parameters: int | None,
           machine: Machine | None = None) -> RuntimeChoice:
    """Both choices for a model of ``parameters`` on ``device`` (this machine unless given)."""
    machine = machine or detect_machine()
    chosen_dtype, dtype_reason = choose_dtype(dtype, device, parameters, machine)
    threads, thread_reason = choose_threads(num_threads, device, parameters, machine)
    return RuntimeChoice(chosen_dtype, threads, f"{dtype_reason}; {thread_reason}")


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
