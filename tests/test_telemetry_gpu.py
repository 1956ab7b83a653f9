"""NVML telemetry on a real GPU (tier `gpu`: never selected by default, nor by `-m slow`; run on a machine
with an NVIDIA GPU, its driver and a CUDA build of torch: `pytest -m gpu tests/test_telemetry_gpu.py`).

The sampler (bench.telemetry.sampler) runs beside a real CUDA load (torch matrix products for LOAD_S seconds,
idle before and after); the window is the load's middle, on the harness clock. Checked: every GPU column is
filled, the power reading says which it is, the energy counter's delta over the window agrees with the mean of
the power samples x the window's seconds within 5 %, and the load shows in power, clock and utilisation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.measure.telemetry import summarise
from bench.telemetry.control import SamplerProcess
from bench.telemetry.series import find_series

pytestmark = pytest.mark.gpu
LOAD_S = 12.0
LOAD = f"""
import time, torch
a = torch.randn(8192, 8192, device="cuda")
torch.cuda.synchronize()
end = time.monotonic() + {LOAD_S}
while time.monotonic() < end:
    b = a @ a
    torch.cuda.synchronize()
"""


def test_gpu_energy_agrees_with_power_times_time(tmp_path: Path) -> None:
    sampler = SamplerProcess(tmp_path, ["0"]).start()
    sampler.follow(lambda: (os.getpid(), False))
    time.sleep(2.0)  # idle before
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", LOAD], check=True, timeout=LOAD_S + 120)
    ended = time.monotonic()
    time.sleep(2.0)
    sampler.stop()
    meta = json.loads((tmp_path / "telemetry.meta.json").read_text())
    assert meta["gpu_unavailable"] is None and meta["sources"][:2] == ["psutil", "nvml"]
    (gpu,) = meta["gpus"]
    assert gpu["energy"] == "counter" and gpu["power"] in ("instant", "average-1s", "instant-power-usage")
    # the load's middle: after CUDA's start-up, before its end
    t0, t1 = ended - LOAD_S + 3.0, ended - 1.0
    assert t0 > started
    telemetry = summarise(find_series(tmp_path), (t0, t1), images=1000)
    (g,) = telemetry.window.gpus
    print(json.dumps(telemetry.model_dump(), indent=1))
    assert telemetry.sampler.rate >= 10
    assert g.energy_j == pytest.approx(g.power_w_mean * telemetry.window.seconds, rel=0.05)
    assert g.utilization_percent_mean > 50 and g.sm_clock_mhz_median > 0 and g.temperature_c_max > 0
    assert g.memory_used_mb_max > 256  # the 8192 x 8192 matrices
    assert telemetry.window.images_per_joule == pytest.approx(1000 / g.energy_j)
