"""bench: measure and compare the training throughput of object-detection implementations."""

DISTRIBUTION = "detection-bench"  # bench's name on a package index (`bench` there is an unrelated project)


def __getattr__(name: str) -> str:
    """`bench.__version__`, read from the installed distribution on first use: importlib.metadata costs
    0.03 s, which a command that never asks for the version (`bench parse`) should not pay."""
    if name != "__version__":
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        value = "0.0.0+source"
    globals()["__version__"] = value
    return value
