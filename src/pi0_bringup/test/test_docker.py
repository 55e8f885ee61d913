"""Docker files (no engine here): every path they reference exists in the repository, and the
compose services run launch files and commands that exist."""
import re
from pathlib import Path

import pytest
import yaml

from pi0_bringup import launch_helpers, robots

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"


def _instructions():
    """Dockerfile instructions with line continuations joined: [(KEYWORD, arguments)]."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_builds_on_ros_jazzy_with_a_torch_index_argument():
    instructions = _instructions()
    assert instructions[0] == ("FROM", "ros:jazzy")
    args = [a for k, a in instructions if k == "ARG"]
    assert any(a.startswith("TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu") for a in args)
    run = " ".join(a for k, a in instructions if k == "RUN")
    assert "ros-jazzy-launch-ros" in run and "--system-site-packages" in run
    assert '"torch==$TORCH_VERSION"' in run and "--index-url \"$TORCH_INDEX_URL\"" in run
    assert "requirements/common.txt" in run and "scripts/setup.sh" in run


def test_dockerfile_copies_and_runs_existing_paths():
    instructions = _instructions()
    for keyword, arguments in instructions:
        if keyword == "COPY":
            *sources, _ = arguments.split()
            for source in sources:
                assert source == "." or (ROOT / source).exists(), f"COPY {source}: no such path"
    for path in ("requirements/common.txt", "scripts/setup.sh", "scripts/env.sh", "docker/entrypoint.sh"):
        assert (ROOT / path).is_file(), path
    assert (ROOT / "docker" / "entrypoint.sh").stat().st_mode & 0o111, "entrypoint.sh must be executable"
    cmd = [a for k, a in instructions if k == "CMD"][-1]
    assert '"mobile_trossen.launch.py"' in cmd


def test_dockerignore_keeps_build_outputs_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv/", "build/", "install/", "log/"} <= set(ignored)


def _compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_services_use_host_network_domain_id_and_checkpoint_volume():
    services = _compose()["services"]
    assert set(services) == {"pi0", "pi0-gpu", "demo"}
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert "ROS_DOMAIN_ID" in service["environment"], name
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert any(v.endswith(":/checkpoints:ro") for v in services["pi0"]["volumes"])
    assert services["pi0-gpu"]["profiles"] == ["gpu"]
    assert services["pi0-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "cu" in services["pi0-gpu"]["build"]["args"]["TORCH_INDEX_URL"]


def _default(text):
    """Compose interpolation with defaults only: ${VAR:-default} → default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)


@pytest.mark.parametrize("service", ["pi0", "pi0-gpu"])
def test_compose_launch_command_names_an_existing_launch_file_and_known_arguments(service):
    command = [_default(part) for part in _compose()["services"][service]["command"]]
    assert command[:3] == ["ros2", "launch", "pi0_bringup"]
    robot = command[3].removesuffix(".launch.py")
    assert robot in robots.list_robots()
    assert (ROOT / "src" / "pi0_bringup" / "launch" / command[3]).is_file()
    values = dict(arg.split(":=", 1) for arg in command[4:])
    assert set(values) <= {a.name for a in launch_helpers.LAUNCH_ARGUMENTS}
    values.pop("checkpoint")  # empty: resolved at launch time (random tiny π0 in simulation)
    nodes = launch_helpers.describe_arguments(robot, values)
    assert [n.executable for n in nodes] == ["pi0_policy_node", "sim_robot"]


def test_compose_demo_runs_the_demo_command():
    from pi0_bringup import cli

    demo = _compose()["services"]["demo"]
    assert demo["command"][:2] == ["pi0", "demo"]
    assert "pi0_bringup.commands.demo" in cli.SUBCOMMANDS
    args = cli.build_parser().parse_args(demo["command"][1:])
    assert args.out == "/opt/pi0_ros/demo_out" and args.robot == "mobile_trossen"
