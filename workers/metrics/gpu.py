"""GPU memory in use, read through NVML each time the metrics are scraped.

NVML comes from ``nvidia-ml-py`` (import name ``pynvml``; the ``gpu`` extra) and the NVIDIA
driver. Where either is missing the metrics are simply not exported: never an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


def load_nvml() -> Any | None:
    """The initialised ``pynvml`` module, or None where NVML is not available."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver, no device: nothing to export
        log.debug("NVML unavailable: %s", exc)
        return None
    return pynvml


def visible_devices(devices: Sequence[str] | None = None) -> list[str] | None:
    """GPU ids to report (indices or ``GPU-...`` UUIDs): ``devices``, else
    ``CUDA_VISIBLE_DEVICES``, else None (every device)."""
    if devices:
        return list(devices)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    return [d.strip() for d in visible.split(",") if d.strip()]


class GpuMemoryCollector(Collector):
    """``seglocate_gpu_memory_used_bytes{gpu}`` and ``seglocate_gpu_memory_total_bytes{gpu}``.

    ``devices``: the GPUs this worker uses (see :func:`visible_devices`). ``nvml``: the
    initialised NVML module (default :func:`load_nvml`, tried once).
    """

    def __init__(self, devices: Sequence[str] | None = None, nvml: Any | None = None) -> None:
        self.devices = visible_devices(devices)
        self._nvml = nvml if nvml is not None else load_nvml()

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def _handles(self) -> Iterator[tuple[str, Any]]:
        nvml = self._nvml
        if self.devices is None:
            for index in range(nvml.nvmlDeviceGetCount()):
                yield str(index), nvml.nvmlDeviceGetHandleByIndex(index)
            return
        for device in self.devices:
            if device.isdigit():
                yield device, nvml.nvmlDeviceGetHandleByIndex(int(device))
            else:
                yield device, nvml.nvmlDeviceGetHandleByUUID(device)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._nvml is None:
            return
        used = GaugeMetricFamily(
            "seglocate_gpu_memory_used_bytes", "GPU memory in use (NVML), bytes.", labels=["gpu"]
        )
        total = GaugeMetricFamily(
            "seglocate_gpu_memory_total_bytes",
            "GPU memory installed (NVML), bytes.",
            labels=["gpu"],
        )
        try:
            for label, handle in self._handles():
                info = self._nvml.nvmlDeviceGetMemoryInfo(handle)
                used.add_metric([label], float(info.used))
                total.add_metric([label], float(info.total))
        except Exception as exc:  # a device vanished or the driver went away: skip this scrape
            log.warning("NVML read failed: %s", exc)
            return
        yield used
        yield total
