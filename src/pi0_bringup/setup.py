from pathlib import Path

from setuptools import find_packages, setup

package_name = "pi0_bringup"
here = Path(__file__).parent


def tree(folder, dest):
    """(install dir, [files]) pairs that install folder/ as share/<package>/<dest>/, keeping subfolders."""
    pairs = {}
    for path in sorted((here / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(here / folder)
            pairs.setdefault(str(Path("share") / package_name / dest / rel.parent), []).append(
                str(path.relative_to(here))
            )
    return sorted(pairs.items())


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    include_package_data=True,
    package_data={package_name: ["**/*.yaml", "**/*.json", "**/*.model", "**/*.safetensors", "**/*.xacro", "**/*.urdf"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        # Launch files, and the per-robot YAML (read from the Python package, installed for ROS users).
        *tree("launch", "launch"),
        *tree(package_name + "/config", "config"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="pi0-ros maintainers",
    maintainer_email="pi0-ros@example.com",
    description="Launch files, per-robot configuration and the pi0 command line of pi0-ros.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={"console_scripts": ["pi0 = pi0_bringup.cli:main"]},
)
