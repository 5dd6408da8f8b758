"""Data-parallel training over processes with :mod:`torch.distributed`, as ``torchrun`` starts it.

``torchrun --nproc_per_node N cli.py train ...`` starts N copies of the CLI with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment.  Every rank
builds the same dataset and model (same seed); the trainer then

* draws the same permutation and negatives on every rank and gives each rank its slice of
  every global batch of ``train.batch_size`` interactions;
* wraps the batch loss in :class:`~torch.nn.parallel.DistributedDataParallel`, which
  all-reduces (averages) the gradients; each rank's loss is scaled by its share of the batch,
  so the averaged gradient is that of the whole batch's mean loss, as in one process;
* evaluates a disjoint share of the users on each rank and sums the metric totals
  (:func:`all_sum`), so every rank sees the same metrics and stops at the same epoch;
* writes the run folder, logs and checkpoints on rank 0 only; checkpoints are read on rank 0
  and broadcast (:func:`load_on_main`).  ``--resume`` also reads the run's ``config.json`` on
  every rank, so the run folder must be visible to all of them (one machine, or a shared disk).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn import Module

from mmgraph.errors import MMGraphError


@dataclass(frozen=True)
class Dist:
    """This process's place among the training processes (``rank`` of ``world``)."""

    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: Tensor) -> Tensor:
        """This rank's contiguous slice of a global batch (sizes differ by at most one)."""
        return batch.tensor_split(self.world)[self.rank] if self.enabled else batch


def launched() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """False in the processes ``torchrun`` started with ``RANK`` above 0 (they print nothing)."""
    return int(os.environ.get("RANK", "0")) == 0


def local_device(device: torch.device) -> torch.device:
    """Under ``torchrun`` a plain ``cuda`` means this process's GPU, ``cuda:LOCAL_RANK``."""
    if launched() and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def setup(device: torch.device) -> Dist:
    """Join the process group ``torchrun`` describes (gloo on CPU, NCCL on CUDA); a no-op
    returning ``Dist()`` in a single process."""
    if not launched():
        return Dist()
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        except (RuntimeError, ValueError) as exc:
            raise MMGraphError(
                f"torch.distributed could not start ({exc}); launch with "
                "`torchrun --nproc_per_node N cli.py train ...`"
            ) from exc
    return Dist(dist.get_rank(), dist.get_world_size())


def all_sum(values: Tensor, ranks: Dist) -> Tensor:
    """``values`` summed over all ranks, then rank 0's result on every rank (so decisions
    taken from it are bitwise the same everywhere)."""
    if ranks.enabled:
        dist.all_reduce(values)
        dist.broadcast(values, 0)
    return values


def broadcast(obj, ranks: Dist):
    """Rank 0's ``obj`` on every rank (pickled by torch.distributed; rank 0's own data only)."""
    if not ranks.enabled:
        return obj
    box = [obj if ranks.main else None]
    dist.broadcast_object_list(box, 0)
    return box[0]


def load_on_main(load: Callable[[], dict], ranks: Dist, device: torch.device) -> dict:
    """Run ``load`` (a checkpoint read) on rank 0 only and hand its result to every rank."""
    if not ranks.enabled:
        return load()
    ckpt = broadcast(_to(load(), torch.device("cpu")) if ranks.main else None, ranks)
    return _to(ckpt, device)


def _to(obj, device):
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return type(obj)((k, _to(v, device)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


class BatchLoss(Module):
    """``loss_fn(graph, users, pos, negs)`` as a module's forward, so that
    :class:`~torch.nn.parallel.DistributedDataParallel` can wrap it (the recommenders' training
    entry point is :meth:`~mmgraph.models.Recommender.batch_loss`, not ``forward``)."""

    def __init__(self, model: Module, loss_fn: Callable[..., Tensor]):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, graph, users: Tensor, pos: Tensor, negs: Tensor) -> Tensor:
        return self.loss_fn(graph, users, pos, negs)


def data_parallel(model: Module, loss_fn: Callable[..., Tensor], ranks: Dist) -> Callable:
    """``(graph, users, pos, negs) -> loss``: the batch loss in one process, through DDP (which
    all-reduces the gradients during ``backward``) under ``torchrun``.  ``static_graph``: each
    model uses the same parameters at every step, so DDP learns once which ones a step leaves
    unused instead of searching the autograd graph at every step."""
    step = BatchLoss(model, loss_fn)
    if not ranks.enabled:
        return step
    return torch.nn.parallel.DistributedDataParallel(step, static_graph=True)


@contextmanager
def process_group() -> Iterator[None]:
    """Owns ``torchrun``'s process group for the ``with`` block: :func:`setup` joins it inside
    (through :meth:`Experiment.build <mmgraph.runs.Experiment.build>`), and it is left when the
    block ends, however it ends.  Whatever holds a DDP wrapper must be released by a ``with``
    nested inside this one, so it goes first (see :func:`teardown`); a no-op in one process."""
    try:
        yield
    finally:
        teardown()


def teardown() -> None:
    """Leave the process group.  Call it after the DDP wrapper is released: a reducer freed
    after its process group was destroyed hangs on gloo's worker threads."""
    if dist.is_initialized():
        gc.collect()  # DDP wrappers held only by reference cycles go first
        dist.destroy_process_group()
