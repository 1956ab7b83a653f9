"""Start-up cost of the command line: `bench --help`, a mistyped option, `bench parse` of a 1,200-line log,
and the imports the CLI defers.

The CLI imports the domain packages inside its commands (bench/cli/__init__.py says why); this measures what
that saves. Prints, over --repeats runs of each command, the median wall time and the median CPU time (user +
system, of the child process: what the command costs the machine, whatever else runs on it), twice: "warm",
with Python's bytecode cache (in a temporary PYTHONPYCACHEPREFIX, filled by one run first: what an installed
bench has after its first command), and "cold", with none (PYTHONDONTWRITEBYTECODE=1: every module of bench
compiled from source at each start, as in a checkout that may not write __pycache__).

    .venv/bin/python benchmarks/cli_startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from writers import write_torchvision_log  # noqa: E402

PARSE_LOG_LINES = 1200  # the figure: `bench parse` of a 1,200-line log in at most 0.15 s of CPU
COMMANDS = {
    "bench --help": ["-m", "bench.cli", "--help"],
    "bench run --help": ["-m", "bench.cli", "run", "--help"],
    "bench list --no-such-option": ["-m", "bench.cli", "list", "--no-such-option"],
}
IMPORTS = {
    "import bench.cli": "import bench.cli",
    "import bench.cli + the pipeline (bench run)": "import bench.cli, bench.pipeline.run",
    "import bench.cli + the report (bench table)": "import bench.cli, bench.report.generate",
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def medians(argv: list[str], repeats: int, env: dict[str, str]) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of `python argv` over `repeats` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu, start = children_cpu(), time.perf_counter()
        subprocess.run([sys.executable, *argv], capture_output=True, check=False, env=env)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def parse_log(directory: Path) -> Path:
    """A torchvision log of 8 GPUs x 2 images, printed every 20 iterations: PARSE_LOG_LINES lines."""
    iterations = (PARSE_LOG_LINES - 3) * 20
    return write_torchvision_log(directory / "train.log", lambda i: 0.5 + 0.01 * (i % 3), iterations)


def modes(cache: Path) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    return {"warm": {**base, "PYTHONPYCACHEPREFIX": str(cache)},
            "cold": {**base, "PYTHONDONTWRITEBYTECODE": "1"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory() as tmp:
        log = parse_log(Path(tmp))
        lines = len(log.read_text().splitlines())
        commands = {"python -c pass (interpreter start, included below)": ["-c", "pass"], **COMMANDS,
                    f"bench parse ({lines}-line log)": ["-m", "bench.cli", "parse", str(log)],
                    **{name: ["-c", code] for name, code in IMPORTS.items()}}
        envs = modes(Path(tmp) / "pycache")
        for argv in commands.values():  # fill the bytecode cache
            subprocess.run([sys.executable, *argv], capture_output=True, check=False, env=envs["warm"])
        for name, argv in commands.items():
            figures = [medians(argv, repeats, env) for env in envs.values()]
            print(f"{name}: " + "; ".join(f"{mode} {wall:.3f} s wall, {cpu:.3f} s CPU"
                                         for mode, (wall, cpu) in zip(envs, figures)))
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
