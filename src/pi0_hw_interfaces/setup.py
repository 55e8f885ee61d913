from pathlib import Path

from setuptools import find_packages, setup

package_name = "pi0_hw_interfaces"
here = Path(__file__).parent


def tree(folder):
    """(install dir, [files]) pairs that install folder/ under share/<package>/, keeping subfolders."""
    pairs = {}
    for path in sorted((here / folder).rglob("*")):
        if path.is_file():
            rel = path.relative_to(here)
            pairs.setdefault(str(Path("share") / package_name / rel.parent), []).append(str(rel))
    return sorted(pairs.items())


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    include_package_data=True,
    package_data={package_name: ["**/*.yaml", "**/*.json", "**/*.model", "**/*.xacro", "**/*.urdf"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        *[pair for folder in ("config", "description") for pair in tree(folder)],
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="pi0-ros maintainers",
    maintainer_email="pi0-ros@example.com",
    description="The robot side of pi0-ros: embodiment specs, ros2_control descriptions, hardware bridges, a simulated robot, a safety layer.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "sim_robot = pi0_hw_interfaces.sim_robot:main",
            "trajectory_bridge = pi0_hw_interfaces.bridge:main",
            "mujoco_sim = pi0_hw_interfaces.mujoco_sim.node:main",
            "mujoco_expert = pi0_hw_interfaces.mujoco_sim.expert_node:main",
        ]
    },
)
