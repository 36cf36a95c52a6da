"""The setuptools shim: the metadata is declarative, in setup.cfg."""

from setuptools import setup

setup()
