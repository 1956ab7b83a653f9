"""bench: measure and compare the training throughput of object-detection implementations."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "detection-bench"  # bench's name on a package index (`bench` there is an unrelated project)

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
