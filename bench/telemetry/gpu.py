"""The GPUs' side of a sample, through NVML (nvidia-ml-py), read the way Zeus reads it (ml-energy/zeus,
zeus/device/gpu/nvidia.py):

- energy: `nvmlDeviceGetTotalEnergyConsumption` (mJ since the driver loaded, a 64-bit counter) on Volta and
  newer (`nvmlDeviceGetArchitecture` >= NVML_DEVICE_ARCH_VOLTA, Zeus's test); on older GPUs the power samples
  are integrated (trapezoids), and the meta says so;
- power: the instantaneous field `NVML_FI_DEV_POWER_INSTANT` where the driver offers it, else
  `nvmlDeviceGetPowerUsage`, which NVML documents as a one-second average on Ampere (except GA100) and newer
  and as instantaneous before; the meta says which;
- SM and memory clocks, temperature, utilisation, memory used, the clock-event (throttle) reasons bit mask
  (`nvmlDeviceGetCurrentClocksEventReasons`, `...ThrottleReasons` on older bindings);
- once a second, the processes on each GPU: those not of the run are written as `foreign_pids`. A reading that
  fails is left empty in that row; one that the device does not support is not asked again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.telemetry.series import gpu_column

PROCESSES_EVERY_S = 1.0
# NVML's clock-event reasons (nvml.h nvmlClocksEventReason*), by bit
CLOCK_EVENT_REASONS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap",
                       0x8: "hw_slowdown", 0x10: "sync_boost", 0x20: "sw_thermal_slowdown",
                       0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown",
                       0x100: "display_clock_setting"}


class GpuUnavailable(Exception):
    """Why no GPU number can be written (no NVML library, no driver, no device)."""


@dataclass
class Gpu:
    index: int  # NVML's
    handle: object
    name: str
    uuid: str
    energy: str  # "counter" or "power-integral"
    power: str  # "instant" (the field) or what nvmlDeviceGetPowerUsage gives on this architecture
    first_mj: float | None = None
    integral_j: float = 0.0
    last_power: tuple[float, float] | None = None  # (t, W) for the integral
    unsupported: set[str] = field(default_factory=set)

    def facts(self) -> dict:
        return {"index": self.index, "name": self.name, "uuid": self.uuid, "energy": self.energy,
                "power": self.power}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlGpus:
    """The GPUs named by `wanted` (NVML indices or UUIDs, as CUDA_VISIBLE_DEVICES names them; ["all"]: every
    GPU NVML sees)."""

    def __init__(self, wanted: list[str]) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as exc:  # no library, no driver: both mean no NVML
            raise GpuUnavailable(f"NVML is not available here ({type(exc).__name__}: {exc})") from None
        self.nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
            if count == 0:
                raise GpuUnavailable("NVML sees no GPU on this machine")
            names = [str(i) for i in range(count)] if wanted == ["all"] else wanted
            self.gpus = [self._open(name, count) for name in names]
        except GpuUnavailable:
            self.close()
            raise
        except pynvml.NVMLError as exc:
            self.close()
            raise GpuUnavailable(f"NVML failed: {exc}") from None
        self.next_processes = 0.0

    def _open(self, name: str, count: int) -> Gpu:
        nvml = self.nvml
        if name.isdigit():
            if int(name) >= count:
                raise GpuUnavailable(f"GPU {name} does not exist (NVML sees {count})")
            handle = nvml.nvmlDeviceGetHandleByIndex(int(name))
        else:
            handle = nvml.nvmlDeviceGetHandleByUUID(name)
        index = nvml.nvmlDeviceGetIndex(handle)
        try:
            arch = nvml.nvmlDeviceGetArchitecture(handle)
        except nvml.NVMLError:
            arch = nvml.NVML_DEVICE_ARCH_UNKNOWN
        gpu = Gpu(index, handle, _text(nvml.nvmlDeviceGetName(handle)), _text(nvml.nvmlDeviceGetUUID(handle)),
                  energy="power-integral", power=self._power_kind(handle, arch))
        if nvml.NVML_DEVICE_ARCH_VOLTA <= arch != nvml.NVML_DEVICE_ARCH_UNKNOWN:
            try:
                gpu.first_mj = float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
                gpu.energy = "counter"
            except nvml.NVMLError:
                pass
        return gpu

    def _power_kind(self, handle, arch: int) -> str:
        if self._instant_power(handle) is not None:
            return "instant"
        name = _text(self.nvml.nvmlDeviceGetName(handle))
        if arch >= self.nvml.NVML_DEVICE_ARCH_AMPERE and arch != self.nvml.NVML_DEVICE_ARCH_UNKNOWN \
                and "A100" not in name:
            return "average-1s"  # nvmlDeviceGetPowerUsage on Ampere (not GA100) and newer
        return "instant-power-usage"

    def _instant_power(self, handle) -> float | None:
        """W from the NVML_FI_DEV_POWER_INSTANT field, or None where the driver does not offer it."""
        try:
            value = self.nvml.nvmlDeviceGetFieldValues(handle, [self.nvml.NVML_FI_DEV_POWER_INSTANT])[0]
        except (self.nvml.NVMLError, AttributeError):
            return None
        if value.nvmlReturn != self.nvml.NVML_SUCCESS:
            return None
        return value.value.uiVal / 1000

    def facts(self) -> list[dict]:
        return [gpu.facts() for gpu in self.gpus]

    def sample(self, now: float, own_pids: Callable[[], set[int]]) -> dict:
        """One row's GPU columns."""
        row: dict = {}
        processes = now >= self.next_processes
        if processes:
            self.next_processes = now + PROCESSES_EVERY_S
        for gpu in self.gpus:
            values = self._read(gpu)
            if values.get("power_w") is not None:
                self._integrate(gpu, now, values["power_w"])
            if gpu.energy == "power-integral":
                values["energy_j"] = gpu.integral_j if gpu.last_power else None
            if processes:
                values["foreign_pids"] = self._foreign(gpu, own_pids)
            row.update({gpu_column(gpu.index, key): value for key, value in values.items()})
        return row

    def _integrate(self, gpu: Gpu, now: float, watts: float) -> None:
        if gpu.last_power is not None:
            t, w = gpu.last_power
            gpu.integral_j += (now - t) * (w + watts) / 2
        gpu.last_power = (now, watts)

    def _call(self, gpu: Gpu, key: str, read: Callable[[], float]) -> float | None:
        if key in gpu.unsupported:
            return None
        try:
            return read()
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) == self.nvml.NVML_ERROR_NOT_SUPPORTED:
                gpu.unsupported.add(key)
            return None

    def _read(self, gpu: Gpu) -> dict:
        nvml, h = self.nvml, gpu.handle
        values = {
            "power_w": (self._instant_power(h) if gpu.power == "instant"
                        else self._call(gpu, "power", lambda: nvml.nvmlDeviceGetPowerUsage(h) / 1000)),
            "sm_mhz": self._call(gpu, "sm", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)),
            "mem_mhz": self._call(gpu, "mem", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM)),
            "temperature_c": self._call(gpu, "temperature", lambda: nvml.nvmlDeviceGetTemperature(
                h, nvml.NVML_TEMPERATURE_GPU)),
            "utilization_percent": self._call(gpu, "utilization",
                                              lambda: nvml.nvmlDeviceGetUtilizationRates(h).gpu),
            "memory_used_mb": self._call(gpu, "memory", lambda: nvml.nvmlDeviceGetMemoryInfo(h).used / 2**20),
            "reasons": self._call(gpu, "reasons", lambda: self._reasons(h)),
        }
        if gpu.energy == "counter":
            raw = self._call(gpu, "energy", lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(h))
            values["energy_j"] = (raw - gpu.first_mj) / 1000 if raw is not None else None
        return values

    def _reasons(self, handle) -> int:
        read = getattr(self.nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            self.nvml.nvmlDeviceGetCurrentClocksThrottleReasons
        return int(read(handle))

    def _foreign(self, gpu: Gpu, own_pids: Callable[[], set[int]]) -> str | None:
        """The pids on this GPU that are not the run's, space-separated ("" when none)."""
        nvml = self.nvml
        try:
            pids = {p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(gpu.handle)}
        except nvml.NVMLError:
            return None
        try:
            pids |= {p.pid for p in nvml.nvmlDeviceGetGraphicsRunningProcesses(gpu.handle)}
        except nvml.NVMLError:
            pass
        return " ".join(str(pid) for pid in sorted(pids - own_pids()))

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


def reason_names(mask: int) -> list[str]:
    """The clock-event reasons set in an NVML bit mask, by name (an unknown bit as its hex value)."""
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    rest = mask & ~sum(CLOCK_EVENT_REASONS)
    return names + ([hex(rest)] if rest else [])
