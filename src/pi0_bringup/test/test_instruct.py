"""`pi0 instruct` (a separate process) reaches a subscriber over DDS, with the policy's QoS."""
import shutil
import subprocess
import sys

import pytest
import rclpy
from std_msgs.msg import String

from pi0_bringup.commands.instruct import instruction_qos


def pi0_command():
    exe = shutil.which("pi0")
    return [exe] if exe else [sys.executable, "-m", "pi0_bringup.cli"]


def run_pi0(*args, timeout=30):
    return subprocess.run(pi0_command() + list(args), capture_output=True, text=True, timeout=timeout)


def test_instruct_is_received_by_a_subscriber_in_another_process(executor, spin_until):
    node = rclpy.create_node("instruction_listener", context=executor.context)
    executor.add_node(node)
    received = []
    node.create_subscription(String, "/pi0/instruction", lambda m: received.append(m.data), instruction_qos())
    proc = subprocess.Popen(pi0_command() + ["instruct", "fold the towel", "--wait", "20"], stdout=subprocess.PIPE, text=True)
    spin_until(executor, lambda: received, 25.0, "the instruction from `pi0 instruct`")
    out, _ = proc.communicate(timeout=20)
    assert received == ["fold the towel"]
    assert proc.returncode == 0, out
    assert "sent 'fold the towel' on /pi0/instruction to 1 subscriber(s)" in out


def test_instruct_stop_sends_an_empty_instruction_on_a_custom_topic(executor, spin_until):
    node = rclpy.create_node("instruction_listener_stop", context=executor.context)
    executor.add_node(node)
    received = []
    node.create_subscription(String, "/robot_a/instruction", lambda m: received.append(m.data), instruction_qos())
    proc = subprocess.Popen(
        pi0_command() + ["instruct", "--stop", "--topic", "/robot_a/instruction", "--wait", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    spin_until(executor, lambda: received, 25.0, "the empty instruction")
    proc.communicate(timeout=20)
    assert received == [""] and proc.returncode == 0


def test_instruct_without_subscriber_fails_clearly():
    result = run_pi0("instruct", "wave", "--topic", "/nobody_listens_here", "--wait", "0.5")
    assert result.returncode == 1
    assert "no subscriber on /nobody_listens_here" in result.stdout


@pytest.mark.parametrize("args", [[], ["--stop", "also text"]])
def test_instruct_needs_exactly_one_of_text_or_stop(args):
    result = run_pi0("instruct", *args)
    assert result.returncode == 2 and "either an instruction" in result.stdout
