"""Start-up time of the command line: `bench --help`, a mistyped option, and the imports the CLI defers.

The CLI imports the domain packages inside its commands (bench/cli/__init__.py says why); this measures
what that saves. Prints the median wall time of each command over --repeats runs, and the import time of the
modules a command pulls in when it runs.

    .venv/bin/python benchmarks/cli_startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

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


def median_seconds(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *argv], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    repeats = parser.parse_args().repeats
    baseline = median_seconds(["-c", "pass"], repeats)
    print(f"python -c pass: {baseline:.3f} s (interpreter start, included below)")
    for name, argv in COMMANDS.items():
        print(f"{name}: {median_seconds(argv, repeats):.3f} s")
    for name, code in IMPORTS.items():
        print(f"{name}: {median_seconds(['-c', code], repeats):.3f} s")


if __name__ == "__main__":
    main()
