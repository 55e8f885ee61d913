"""Check node parameters against the schemas the nodes declare them from, before any node starts.

rclpy silently ignores an override of an undeclared parameter (a typo: `num_step:=5`) and raises
a traceback at node construction for a wrong type (`num_steps:=abc`). Each node declares its
parameters from one tuple of `Param(name, default, ...)` (`SCHEMAS`); here command-line values
are converted to the type of the default and checked against its `choices`/`minimum`, and
unknown names are refused with the closest declared one. Errors are one-line ValueErrors.
"""
from __future__ import annotations

import difflib
import importlib

#: (package, executable) → "module:ATTR" of the tuple of Params the node declares.
SCHEMAS = {
    ("pi0_policy", "pi0_policy_node"): "pi0_policy.ros.parameters:SCHEMA",
    ("pi0_hw_interfaces", "sim_robot"): "pi0_hw_interfaces.sim_robot:PARAMS",
    ("pi0_hw_interfaces", "mujoco_sim"): "pi0_hw_interfaces.mujoco_sim.node:PARAMS",
    ("pi0_hw_interfaces", "trajectory_bridge"): "pi0_hw_interfaces.bridge:PARAMS",
}


def schema(package: str, executable: str) -> dict | None:
    """{name: Param} declared by `package`/`executable`; None for a node without a known schema."""
    target = SCHEMAS.get((package, executable))
    if target is None:
        return None
    module, _, attr = target.partition(":")
    return {p.name: p for p in getattr(importlib.import_module(module), attr)}


def closest(name: str, names) -> str:
    """"; did you mean 'x'?" for the closest of `names`, else "; known: a, b, ..."."""
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    if match:
        return f"; did you mean {match[0]!r}?"
    return f"; known: {', '.join(sorted(names))}"


def _kind(default) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, (list, tuple)):
        return "a list of numbers, e.g. [0.0, 0.5]"
    return "a string"


def convert(param, value):
    """`value` (a command-line string, or an already typed value) as `param`'s type; ValueError
    naming the expected type, the choices or the minimum."""
    import yaml

    default = param.default
    if isinstance(default, str):
        typed = value if isinstance(value, str) else str(value)
    else:
        try:
            typed = yaml.safe_load(value) if isinstance(value, str) else value
        except yaml.YAMLError:
            typed = value
        ok = False
        if isinstance(default, bool):
            ok = isinstance(typed, bool)
        elif isinstance(default, int):
            ok = isinstance(typed, int) and not isinstance(typed, bool)
        elif isinstance(default, float):
            ok = isinstance(typed, (int, float)) and not isinstance(typed, bool)
            typed = float(typed) if ok else typed
        elif isinstance(default, (list, tuple)):
            ok = isinstance(typed, (list, tuple)) and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in typed)
            typed = [float(x) for x in typed] if ok else typed
        if not ok:
            raise ValueError(f"{param.name} takes {_kind(default)} (default {default!r}), not {value!r}")
    choices = getattr(param, "choices", ())
    if choices and typed not in choices:
        raise ValueError(f"{param.name}={typed!r}: choose one of {list(choices)}")
    minimum = getattr(param, "minimum", None)
    if minimum is not None and not typed >= minimum:
        raise ValueError(f"{param.name}={typed!r}: must be >= {minimum}")
    return typed


def parse_overrides(items, node, option: str = "--param") -> dict:
    """["name:=value", ...] for the node `node` = (package, executable, ...) → {name: typed value}.

    ValueError (one line, naming `option`) for a missing ":=", an unknown name (with the closest
    declared one) or a value of the wrong type.
    """
    params = schema(*node[:2])
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"{option} {item!r}: write NAME:=VALUE, e.g. num_steps:=5")
        if params is None:
            import yaml

            out[name] = yaml.safe_load(value) if value.strip() else ""
            continue
        if name not in params:
            raise ValueError(f"{option} {item}: {node[1]} has no parameter {name!r}{closest(name, params)}")
        try:
            out[name] = convert(params[name], value.strip())
        except ValueError as error:
            raise ValueError(f"{option} {item}: {error}") from None
    return out


def check_description(description) -> None:
    """Every parameter of a NodeDescription is declared by its node, with a value of its type."""
    params = schema(description.package, description.executable)
    if params is None:
        return
    for name, value in description.parameters.items():
        if name not in params:
            raise ValueError(f"{description.name}: no parameter {name!r}{closest(name, params)}")
        try:
            convert(params[name], value)
        except ValueError as error:
            raise ValueError(f"{description.name}: {error}") from None
