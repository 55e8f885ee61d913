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
    # scripts/setup.sh keeps the image's torch only if told which build it is
    assert services["pi0-gpu"]["build"]["args"]["PI0_TORCH"] == "cuda"
    assert services["pi0"]["image"].startswith("pi0-ros:") and services["pi0-gpu"]["image"] == "pi0-ros:cuda"
    run = " ".join(a for k, a in _instructions() if k == "RUN")
    assert 'PI0_TORCH="$0" scripts/setup.sh' in run and ("ARG", "PI0_TORCH=cpu") in _instructions()


def interpolate(text: str, env: dict) -> str:
    """Compose's variable interpolation: ${VAR:-default} (default when unset or empty),
    ${VAR-default} (default when unset), ${VAR} and $VAR (empty when unset), $$ (a dollar)."""
    def one(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("plain")
        op, default = match.group("op"), match.group("default") or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env[name] if name in env else default
        return env.get(name, "")

    pattern = r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    return re.sub(pattern, one, text)


def ros2_launch_arguments(arguments: list) -> dict:
    """The `name:=value` arguments after the launch file, parsed by the rule of ros2launch
    (ros2launch.api.parse_launch_arguments): no ":=", a leading ":=" or a single ":=" at the end
    (an empty value) is "malformed launch argument"; the last of a name wins."""
    parsed = {}
    for argument in arguments:
        count = argument.count(":=")
        if count == 0 or argument.startswith(":=") or (count == 1 and argument.endswith(":=")):
            raise RuntimeError(f"malformed launch argument '{argument}', expected format '<name>:=<value>'")
        name, value = argument.split(":=", 1)
        parsed[name] = value
    return parsed


def test_the_launch_rule_refuses_empty_values_as_ros2_launch_does():
    with pytest.raises(RuntimeError, match="malformed launch argument 'checkpoint:='"):
        ros2_launch_arguments(["hardware:=sim", "checkpoint:="])
    assert ros2_launch_arguments(["a:=b:=c", "a:=d"]) == {"a": "d"}


ENVIRONMENTS = [
    {},  # nothing set: the README's first `docker compose up pi0`
    {"PI0_CHECKPOINT": "", "PI0_NAMESPACE": "", "PI0_DEVICE": ""},  # set but empty (an .env with blanks)
    {"PI0_ROBOT": "ur5e", "PI0_HARDWARE": "real", "PI0_CHECKPOINT": "/checkpoints/pi0_ur5e",
     "PI0_NAMESPACE": "arm1", "PI0_DEVICE": "cuda:1"},
]


@pytest.mark.parametrize("service", ["pi0", "pi0-gpu"])
@pytest.mark.parametrize("env", ENVIRONMENTS, ids=["unset", "empty", "set"])
def test_compose_launch_command_is_accepted_by_ros2_launch_and_describes_the_robot(service, env):
    command = [interpolate(part, env) for part in _compose()["services"][service]["command"]]
    assert command[:3] == ["ros2", "launch", "pi0_bringup"]
    robot = command[3].removesuffix(".launch.py")
    assert robot == env.get("PI0_ROBOT", "mobile_trossen") and robot in robots.list_robots()
    assert (ROOT / "src" / "pi0_bringup" / "launch" / command[3]).is_file()
    values = ros2_launch_arguments(command[4:])  # raises on an empty value, as ros2 launch does
    assert set(values) <= {a.name for a in launch_helpers.LAUNCH_ARGUMENTS}
    nodes = launch_helpers.describe_arguments(robot, values)
    policy = nodes[0].parameters
    if env.get("PI0_CHECKPOINT"):
        assert policy["checkpoint"] == env["PI0_CHECKPOINT"] and nodes[0].namespace == "/arm1"
        assert policy["device"] == "cuda:1" and [n.executable for n in nodes] == ["pi0_policy_node"]
    else:  # unset: no checkpoint (a random tiny π0 in simulation), no namespace, the service's device
        assert "checkpoint" not in policy and nodes[0].namespace == ""
        assert policy["device"] == ("cuda" if service == "pi0-gpu" else "cpu")
        assert [n.executable for n in nodes] == ["pi0_policy_node", "sim_robot"]


def test_compose_documents_every_setting_it_reads():
    text = COMPOSE.read_text()
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    used = set(re.findall(r"\$\{(PI0_[A-Z0-9_]+)", text))
    assert used and all(f"#   {name}" in comments for name in used), sorted(used)
    assert "nvidia-ctk" in comments or "NVIDIA Container Toolkit" in comments


def test_compose_demo_runs_the_demo_command():
    from pi0_bringup import cli
    from pi0_bringup.commands.demo import pipeline_mode

    demo = _compose()["services"]["demo"]
    assert demo["command"][:2] == ["pi0", "demo"]
    assert "pi0_bringup.commands.demo" in cli.SUBCOMMANDS
    args = cli.build_parser().parse_args(demo["command"][1:])
    assert args.out == "/opt/pi0_ros/demo_out"
    assert not pipeline_mode(args), "the compose demo is the README's: the trained checkpoint's skill demo"
