"""The thread and dtype policy: given a machine's facts and a model size, what `auto` chooses."""
import pytest
import torch

from pi0_policy.model.packed_linear import packing_unavailable

from pi0_policy.policy import runtime
from pi0_policy.policy.demo_checkpoint import make_random_checkpoint
from pi0_policy.policy.local import Pi0Policy
from pi0_policy.policy.runtime import Machine, choose_dtype, choose_threads, decide

AVX2 = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16"}
AMX = AVX2 | {"avx512f", "amx_tile", "amx_bf16"}
TINY, SMALL, FULL = 681_632, 7_103_200, 3_238_048_528  # pi0_tiny, pi0_small, pi0 parameters


@pytest.mark.parametrize("device,flags,parameters,expected", [
    ("cuda", AVX2, TINY, "bfloat16"),
    ("cuda:1", frozenset(), FULL, "bfloat16"),
    ("cpu", AVX2, FULL, "float32"),  # emulated bf16: many times slower
    ("cpu", frozenset(), None, "float32"),
    ("cpu", AVX512_BF16, FULL, "bfloat16"),
    ("cpu", AMX, SMALL, "bfloat16"),
    ("cpu", AVX512_BF16, None, "bfloat16"),  # unknown size counts as large
    ("cpu", AVX512_BF16, TINY, "float32"),  # overhead-bound: conversions cost more than they save
])
def test_auto_dtype(device, flags, parameters, expected):
    dtype, reason = choose_dtype("auto", device, parameters, Machine(cores=2, cpu_flags=flags))
    assert dtype == expected and reason.startswith("auto")


def test_explicit_dtype_is_kept_and_unknown_refused():
    machine = Machine(cores=2, cpu_flags=AVX2)
    assert choose_dtype("bfloat16", "cpu", TINY, machine) == ("bfloat16", "dtype as set")
    with pytest.raises(ValueError, match=r"'fp8'.*\['auto', 'float32', 'bfloat16', 'float16'\]"):
        choose_dtype("fp8", "cpu", TINY, machine)


@pytest.mark.parametrize("cores,parameters,expected", [
    (2, TINY, 1),  # measured: 2 threads slower than 1 for pi0_tiny on 2 cores
    (16, SMALL, 1),
    (1, FULL, 1),
    (2, FULL, 2),
    (3, FULL, 3),
    (4, FULL, 3),  # one core kept for the node's callbacks
    (32, None, 31),
])
def test_auto_threads(cores, parameters, expected):
    threads, _ = choose_threads(0, "cpu", parameters, Machine(cores=cores, cpu_flags=AVX2))
    assert threads == expected


def test_explicit_threads_are_kept_and_bad_ones_refused():
    machine = Machine(cores=2, cpu_flags=AVX2)
    assert choose_threads(6, "cpu", TINY, machine) == (6, "threads as set")
    assert choose_threads(0, "cuda", FULL, Machine(cores=64, cpu_flags=AVX2))[0] == 1
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="num_threads must be an integer >= 0"):
            choose_threads(bad, "cpu", TINY, machine)


def test_decide_describes_both_choices():
    choice = decide("auto", 0, "cpu", FULL, Machine(cores=8, cpu_flags=AVX512_BF16))
    assert (choice.dtype, choice.num_threads) == ("bfloat16", 7)
    packed = ", linear weights packed for oneDNN" if choice.pack else ""
    assert choice.describe().startswith(f"dtype bfloat16, 7 torch thread(s){packed} (auto: native bf16 CPU; "
                                        "auto: 7 of 8")


def test_cpu_flags_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert runtime.cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert runtime.native_bf16(runtime.cpu_flags(info))
    assert runtime.cpu_flags(tmp_path / "missing") == frozenset()
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert not runtime.native_bf16(runtime.cpu_flags(arm))
    assert runtime.detect_machine().cores >= 1


def test_policy_from_checkpoint_applies_the_choice(tmp_path):
    path = make_random_checkpoint(tmp_path / "ckpt", preset="pi0_tiny", state_dim=5, action_dim=4)
    assert runtime.count_parameters(path) == TINY
    assert runtime.count_parameters(tmp_path) is None
    before = torch.get_num_threads()
    try:
        policy = Pi0Policy.from_checkpoint(path)  # auto, auto: a tiny model → float32, one thread
        assert (policy.runtime.dtype, policy.runtime.num_threads) == ("float32", 1)
        assert policy.model.dtype == torch.float32 and torch.get_num_threads() == 1
        assert policy.metadata["dtype"] == "float32" and policy.metadata["num_threads"] == 1
        policy = Pi0Policy.from_checkpoint(path, dtype="bfloat16", num_threads=2)
        assert policy.model.dtype == torch.bfloat16 and torch.get_num_threads() == 2
        assert policy.runtime.reason.startswith("dtype as set; threads as set")
        assert not policy.model.packed and not policy.metadata["packed_weights"]  # auto: too small to gain
        if packing_unavailable("cpu", torch.float32) is None:
            packed = Pi0Policy.from_checkpoint(path, pack=True)
            assert packed.model.packed and packed.metadata["packed_weights"] and packed.runtime.pack
            assert "linear weights packed for oneDNN" in packed.runtime.describe()
    finally:
        torch.set_num_threads(before)


def test_node_parameters_default_to_auto_and_check_num_threads():
    from pi0_policy.ros.parameters import SCHEMA, validate

    values = {p.name: p.default for p in SCHEMA} | {"embodiment": "ur5e", "checkpoint": "/ckpt"}
    params = validate(values)
    assert (params.dtype, params.num_threads) == ("auto", 0)
    assert validate(values | {"num_threads": 3}).num_threads == 3
    with pytest.raises(ValueError, match=r"num_threads=-1: must be >= 0"):
        validate(values | {"num_threads": -1})
    with pytest.raises(ValueError, match=r"dtype='fp8': choose one of \['auto', "):
        validate(values | {"dtype": "fp8"})
    assert params.weight_packing == "auto"
    assert validate(values | {"weight_packing": "plain"}).weight_packing == "plain"
    with pytest.raises(ValueError, match=r"weight_packing='off': choose one of \['auto', 'packed', 'plain'\]"):
        validate(values | {"weight_packing": "off"})


def test_compiled_policy_gives_the_eager_actions(tmp_path):
    """compile=all (the node's `compile` parameter): the whole chunk compiled, same actions as none."""
    import numpy as np

    from pi0_policy.ros.parameters import SCHEMA, validate

    path = make_random_checkpoint(tmp_path / "ckpt", preset="pi0_tiny", state_dim=5, action_dim=4)
    eager = Pi0Policy.from_checkpoint(path, num_steps=2)
    compiled = Pi0Policy.from_checkpoint(path, num_steps=2, compile="all")
    assert eager.metadata["compile"] == "none" and compiled.metadata["compile"] == "all"
    size = compiled.info.config.vision.image_size
    rng = np.random.default_rng(0)
    obs = {"images": {key: rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                      for key in compiled.info.image_keys},
           "state": rng.normal(size=5).astype(np.float32), "prompt": "pick up the cube",
           "noise": rng.normal(size=(compiled.info.config.action_horizon,
                                     compiled.info.config.max_action_dim)).astype(np.float32)}
    np.testing.assert_allclose(compiled.infer(obs)["actions"], eager.infer(obs)["actions"], atol=1e-4)
    with pytest.raises(ValueError, match="compile='yes': choose none, steps or all"):
        Pi0Policy.from_checkpoint(path, compile="yes")
    values = {p.name: p.default for p in SCHEMA} | {"embodiment": "ur5e", "checkpoint": "/ckpt"}
    assert validate(values).compile == "none" and validate(values | {"compile": "all"}).compile == "all"
    with pytest.raises(ValueError, match="compile='fast': choose one of"):
        validate(values | {"compile": "fast"})


def test_packing_is_chosen_for_large_cpu_models_that_are_not_compiled():
    big, small = 3_000_000_000, runtime.PACK_MIN_PARAMETERS - 1
    available = packing_unavailable("cpu", torch.float32) is None
    assert runtime.choose_packing("cpu", "float32", big) == (available, "packed: CPU inference") or not available
    assert runtime.choose_packing("cpu", "float32", small)[0] is False
    assert "too few" in runtime.choose_packing("cpu", "float32", small)[1]
    assert runtime.choose_packing("cuda", "bfloat16", big) == (False, "no packing off the CPU")
    assert runtime.choose_packing("cpu", "float32", big, compile="all") == (False, "no packing: compiled")
    assert runtime.choose_packing("cpu", "float16", big)[0] is False
    choice = decide("float32", 1, "cpu", big, Machine(cores=2, cpu_flags=frozenset()))
    assert choice.pack == available and choice.reason.endswith(runtime.choose_packing("cpu", "float32", big)[1])
