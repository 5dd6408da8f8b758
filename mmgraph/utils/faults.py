"""Fault injection for the reliability tests: ``MMGRAPH_FAULT=POINT`` kills the process with
SIGKILL when it reaches ``POINT``, and ``MMGRAPH_FAULT=POINT#N`` the ``N``-th time it does.
Points: ``batch:EPOCH:STEP`` (after the training step on batch STEP, counted from 0) and
``save:NAME`` (halfway through writing the checkpoint ``NAME``).  Unset, a point costs one environment lookup."""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter = Counter()


def fault_point(name: str) -> None:
    wanted = os.environ.get("MMGRAPH_FAULT")
    if not wanted or not wanted.startswith(name):
        return
    _hits[name] += 1
    if wanted in (name, f"{name}#{_hits[name]}"):
        os.kill(os.getpid(), signal.SIGKILL)
