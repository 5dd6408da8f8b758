"""Shared helpers for the benchmark scripts: median timing and peak-memory measurement."""

from __future__ import annotations

import ctypes
import statistics
import time
from collections.abc import Callable

import torch


def _fixed_mmap_threshold(limit: int = 1 << 16) -> None:
    """Serve every allocation above 64 KiB by mmap and return it to the OS on free.

    glibc otherwise raises its mmap threshold after the first large free, keeps freed tensors
    resident, and RSS-based peaks under-report later runs.  (No-op where glibc is absent.)
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, limit)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


_fixed_mmap_threshold()


def _vm(field: str) -> float:
    """A /proc/self/status field in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(device: torch.device) -> float:
    """Reset the peak-memory counter; return the memory in use now (MiB)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass
    return _vm("VmRSS")


def peak(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _vm("VmHWM")


def measure(fn: Callable[[], None], device: torch.device, runs: int = 5, warmup: int = 1):
    """``(median s, min s, max s, peak extra MiB)`` of ``fn`` over ``runs`` runs after warm-up."""
    for _ in range(warmup):
        fn()
    times, extra = [], []
    for _ in range(runs):
        base = reset_peak(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
        extra.append(peak(device) - base)
    return statistics.median(times), min(times), max(times), statistics.median(extra)
