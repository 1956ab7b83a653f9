"""What pyproject.toml cannot say: recipes/, patches/ and docker/ stay at the repository's top level (the
README, the tests and the Dockerfiles name them there) and ship in the wheel as bench/_data/<name>/, where
bench.paths.data_root() finds them when bench runs from an installed copy instead of a source checkout."""

from setuptools import find_namespace_packages, find_packages, setup

DATA_DIRS = ("recipes", "patches", "docker")  # found again by bench.paths.data_root()


def data_packages(name: str) -> list[str]:
    """`name` and every folder below it as a package of bench._data (setuptools ships only the files of listed
    packages, and warns about folders it would otherwise take as unlisted packages)."""
    return [f"bench._data.{name}",
            *(f"bench._data.{name}.{sub}" for sub in find_namespace_packages(where=name))]


DATA_PACKAGES = [package for name in DATA_DIRS for package in data_packages(name)]

setup(
    packages=[*find_packages(include=["bench", "bench.*"]), *DATA_PACKAGES],
    package_dir={f"bench._data.{name}": name for name in DATA_DIRS},
    package_data={"bench.protocol": ["*.toml"], "bench.report": ["*.schema.json"],
                  **{package: ["*"] for package in DATA_PACKAGES}},
    exclude_package_data={"": ["*.pyc"]},
)
