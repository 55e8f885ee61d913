"""`pi0 checkpoint`: inspect, convert and create π0 checkpoint directories.

    pi0 checkpoint inspect DIR [--json]
        format (project / LeRobot / openpi), model config, state/action dims, camera keys,
        norm stats dims, tokenizer, weights (size, tensors, parameters, dtypes, key layout).
    pi0 checkpoint convert SRC DST --tokenizer tokenizer.model [--norm-stats norm_stats.json]
                           [--profile NAME]
        a LeRobot or openpi π0 directory → the project's format (progress bar per tensor). The
        convention profile (robot ↔ model conventions: pi0_policy/policy/profiles/*.yaml) is
        recorded in config.json: detected from SRC's files where they say it (openpi asset id or
        config name, LeRobot camera keys), else --profile is required.
    pi0 checkpoint random DST --preset pi0_tiny --state-dim 14 --action-dim 14
        random weights and the demo tokenizer, for demos and tests.

Exit status 0 on success; 1 with a one-line error naming the file or value on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "checkpoint",
        help="inspect, convert or create π0 checkpoints",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="checkpoint_command", metavar="ACTION", required=True)

    inspect = sub.add_parser("inspect", help="describe a checkpoint directory (any format)")
    inspect.add_argument("path", type=Path, help="checkpoint directory")
    inspect.add_argument("--json", action="store_true", help="print the description as JSON")
    inspect.set_defaults(func=run_inspect)

    convert = sub.add_parser("convert", help="LeRobot/openpi directory → project checkpoint")
    convert.add_argument("src", type=Path, help="LeRobot or openpi π0 checkpoint directory")
    convert.add_argument("dst", type=Path, help="output directory (the project's format)")
    convert.add_argument("--tokenizer", type=Path, help="SentencePiece tokenizer.model (PaliGemma's)")
    convert.add_argument("--norm-stats", type=Path, help="norm_stats.json replacing the directory's stats")
    convert.add_argument("--preset", help="network sizes (default: the preset that fits the weights)")
    convert.add_argument("--state-dim", type=int, help="override the state dimension read from SRC")
    convert.add_argument("--action-dim", type=int, help="override the action dimension read from SRC")
    convert.add_argument("--force", action="store_true", help="write into a non-empty DST")
    convert.add_argument("--profile", help="convention profile (default: detected from SRC; see "
                         "pi0_policy/policy/profiles/*.yaml)")
    convert.add_argument("--no-progress", action="store_true", help="no progress bar")
    convert.set_defaults(func=run_convert)

    random = sub.add_parser("random", help="a random-weight checkpoint for demos and tests")
    random.add_argument("dst", type=Path, help="output directory")
    random.add_argument("--preset", default="pi0_tiny", help="network preset (default pi0_tiny)")
    random.add_argument("--state-dim", type=int, required=True, help="robot state dimension")
    random.add_argument("--action-dim", type=int, required=True, help="robot action dimension")
    random.add_argument("--horizon", type=int, help="action horizon (default: the preset's)")
    random.add_argument("--seed", type=int, default=0, help="weights and statistics seed (default 0)")
    random.add_argument("--dtype", default="float32", help="stored weight dtype (float32, bfloat16)")
    random.add_argument("--force", action="store_true", help="write into a non-empty DST")
    random.set_defaults(func=run_random)


def _fail(message) -> int:
    print(f"pi0 checkpoint: {message}", file=sys.stderr)
    return 1


def _loading(what: str) -> None:
    """Say that torch and the model code load now (seconds), after the arguments were checked."""
    print(f"pi0 checkpoint: loading torch and the model code to {what} …", file=sys.stderr, flush=True)


def _check_dst(dst: Path, force: bool) -> None:
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())) and not force:
        raise FileExistsError(f"{dst} exists and is not empty (use --force to write into it)")


def _group(key: str) -> str:
    """The module a weight belongs to, layers folded: "….language_model.layers.*", "state_proj"."""
    if ".layers." in key:
        return key.split(".layers.")[0] + ".layers.*"
    parts = key.split(".")
    return ".".join(parts[:-2]) or parts[0]


def weights_summary(path: Path) -> dict:
    """Size, tensor count, parameter count, dtypes and top-level key groups of a safetensors file."""
    from safetensors import safe_open

    from pi0_policy.model.weights import detect_layout

    dtypes, groups, params = Counter(), Counter(), 0
    with safe_open(str(path), framework="pt", device="cpu") as f:
        keys = list(f.keys())
        layout = detect_layout(keys)
        for key in keys:
            piece = f.get_slice(key)
            count = 1
            for n in piece.get_shape():
                count *= n
            params += count
            dtypes[piece.get_dtype()] += count
            groups[_group(key[len("model.") :] if layout == "lerobot" else key)] += 1
    return {
        "file": str(path),
        "bytes": path.stat().st_size,
        "tensors": len(keys),
        "parameters": params,
        "dtypes": dict(dtypes),
        "layout": layout,
        "groups": dict(sorted(groups.items())),
    }


def describe(path: Path) -> dict:
    """A JSON-ready description of any supported checkpoint directory."""
    from pi0_policy.policy import checkpoint as ckpt
    from pi0_policy.policy import external
    from pi0_policy.policy.loading import detect_format

    kind = detect_format(path)
    out = {"path": str(path), "format": kind}
    if kind == "pi0_ros":
        info = ckpt.read_checkpoint(path)
        out.update(
            preset=info.config.name,
            config_changes=external.describe_config_diff(info.config),
            state_dim=info.state_dim,
            action_dim=info.action_dim,
            horizon=info.config.action_horizon,
            image_keys=list(info.image_keys),
            norm_eps=info.norm_eps,
            source=info.source,
            tokenizer={"file": str(info.tokenizer_path), "pieces": info.tokenizer().vocab_size},
        )
        stats = info.norm_stats
    else:
        read = external.read_lerobot if kind == "lerobot" else external.read_openpi
        info = read(path)
        out.update(
            state_dim=info.state_dim,
            action_dim=info.action_dim,
            image_keys=list(info.image_keys),
            norm_eps=info.norm_eps,
            config_overrides=info.overrides,
        )
        stats = info.norm_stats or {}
        tokenizer = path / ckpt.TOKENIZER_FILE
        out["tokenizer"] = {"file": str(tokenizer)} if tokenizer.is_file() else None
        try:
            out["preset_match"] = external.match_config(path / ckpt.WEIGHTS_FILE, None, info.overrides)[
                0
            ].name
        except ValueError as error:
            out["preset_match"] = None
            out["preset_error"] = str(error)
    out["profile"] = _profile_summary(path)
    out["norm_stats"] = {key: {"dim": s.dim, "has_quantiles": s.q01 is not None} for key, s in stats.items()}
    out["weights"] = weights_summary(path / ckpt.WEIGHTS_FILE)
    return out


def _profile_summary(path: Path) -> str:
    """The checkpoint's convention profile, one line (name, embodiments, how it is known)."""
    from pi0_policy.policy import profiles

    recorded = profiles.checkpoint_profile(path)
    return f"{recorded.name} (embodiments {list(recorded.embodiments)}; {recorded.description})"


def _print_description(desc: dict) -> None:
    weights = desc.pop("weights")
    for key, value in desc.items():
        print(f"{key:>16}: {value}")
    print(
        f"{'weights':>16}: {weights['file']} ({weights['bytes'] / 1e6:.1f} MB, {weights['tensors']} tensors, "
        f"{weights['parameters']:,} parameters, layout {weights['layout']})"
    )
    print(f"{'dtypes':>16}: {weights['dtypes']}")
    for group, count in weights["groups"].items():
        print(f"{'':>16}  {group}: {count} tensors")


def run_inspect(args) -> int:
    if not args.path.is_dir():  # before the (slow) torch import
        return _fail(f"checkpoint directory not found: {args.path}")
    _loading("read the checkpoint")
    try:
        desc = describe(args.path)
    except (FileNotFoundError, ValueError) as error:
        return _fail(error)
    if args.json:
        print(json.dumps(desc, indent=2, default=str))
    else:
        _print_description(desc)
    return 0


def run_convert(args) -> int:
    from pi0_policy.policy.profiles import choose_profile, record_profile  # light: YAML + numpy

    try:  # the arguments first, before the (slow) torch import
        if not args.src.is_dir():
            raise FileNotFoundError(f"checkpoint directory not found: {args.src}")
        for option, path in (("--tokenizer", args.tokenizer), ("--norm-stats", args.norm_stats)):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"{option} file not found: {path}")
        _check_dst(args.dst, args.force)
        profile, how = choose_profile(args.src, args.profile)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        return _fail(error)
    _loading("convert the weights")
    from pi0_policy.policy.external import convert_checkpoint

    try:
        out = convert_checkpoint(
            args.src,
            args.dst,
            tokenizer=args.tokenizer,
            norm_stats=args.norm_stats,
            preset=args.preset,
            state_dim=args.state_dim,
            action_dim=args.action_dim,
            progress=not args.no_progress,
        )
        record_profile(out, profile, how)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError) as error:
        return _fail(error)
    print(f"wrote {out} (convention profile {profile}, {how})")
    return 0


def run_random(args) -> int:
    try:  # before the (slow) torch import
        _check_dst(args.dst, args.force)
    except FileExistsError as error:
        return _fail(error)
    _loading("create random weights")
    from pi0_policy.policy.demo_checkpoint import make_random_checkpoint

    overrides = {"action_horizon": args.horizon} if args.horizon else {}
    try:
        out = make_random_checkpoint(
            args.dst,
            preset=args.preset,
            state_dim=args.state_dim,
            action_dim=args.action_dim,
            seed=args.seed,
            dtype=args.dtype,
            **overrides,
        )
    except (FileNotFoundError, FileExistsError, ValueError, KeyError) as error:
        return _fail(error)
    print(f"wrote {out}")
    return 0
