"""Packaging beyond pyproject.toml: the top-level conf/ (the repository's one copy of the configs) ships
inside the package as rwkd/conf, so an installed wheel composes its configs without a checkout
(rwkd/checkout.py says which copy a process reads). pyproject.toml cannot list found packages and a mapped
one together. Each group folder is listed as a package of its own: setuptools warns about, and may one day
drop, data in importable-looking folders that are not listed."""

from setuptools import find_namespace_packages, find_packages, setup

CONF = ["rwkd.conf", *(f"rwkd.conf.{group}" for group in find_namespace_packages(where="conf"))]

setup(
    packages=[*find_packages(include=["rwkd", "rwkd.*"]), *CONF],
    package_dir={"rwkd.conf": "conf"},
    package_data={package: ["*.yaml"] for package in CONF},
)
