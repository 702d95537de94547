"""This process's place in a ``torchrun`` job, and the collectives that training needs.

Gradients are averaged with bucketed ``all_reduce`` after each backward pass (as torch DDP does, without
wrapping the networks); checks and statistics cross ranks in one reduction each; what only rank 0 can
read (a checkpoint in its run folder) is handed to the others. Alone (rank 0 of 1) every call is local.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

# Gradients are all-reduced in flattened buckets of about this size (torch DDP's default bucket_cap_mb).
BUCKET_BYTES = 25 << 20

T = TypeVar("T")


@dataclass
class Distributed:
    """This process's place in a ``torchrun`` job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, module: torch.nn.Module) -> None:
        """Average ``module``'s gradients over the ranks (a missing gradient counts as zeros).

        Gradients are flattened into buckets of about ``BUCKET_BYTES``, all reduced asynchronously,
        and the parameters' gradients become views of the averaged buckets (no copy back).
        """
        if self.world == 1:
            return
        params = [p for p in module.parameters() if p.requires_grad]
        pending = []
        for bucket in _buckets(params, BUCKET_BYTES):
            flat = _flatten_dense_tensors([p.grad if p.grad is not None else torch.zeros_like(p) for p in bucket])
            pending.append((bucket, flat, dist.all_reduce(flat, async_op=True)))
        for bucket, flat, work in pending:
            work.wait()
            flat /= self.world
            for p, averaged in zip(bucket, _unflatten_dense_tensors(flat, bucket)):
                p.grad = averaged

    def average_w_avg(self, generator: torch.nn.Module) -> None:
        """Average G's running ``w_avg`` (each rank updated it with its own batch) over the ranks.

        Only this buffer: the others (constant noise) are equal already, and averaging equal values
        over 3 ranks is not exact in floating point.
        """
        if self.world == 1:
            return
        for name, buffer in generator.named_buffers():
            if name.endswith("w_avg"):
                dist.all_reduce(buffer)
                buffer /= self.world

    def broadcast_module(self, module: torch.nn.Module) -> None:
        if self.world > 1:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    def all_equal(self, module: torch.nn.Module) -> bool:
        """True when ``module``'s parameters and buffers are identical on every rank."""
        if self.world == 1:
            return True
        flat = torch.cat([t.detach().double().flatten() for t in module.state_dict().values()])
        low, high = flat.clone(), flat.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        return bool(torch.equal(low, high))

    def all_true(self, flag: torch.Tensor) -> bool:
        """Whether the 0-d boolean ``flag`` holds on every rank (so that all ranks skip or stop a step
        together); reading it is this call's one host synchronisation."""
        if self.world > 1:
            flag = flag.reshape(1).float()
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag)

    def mean(self, values: dict[str, torch.Tensor], device: torch.device) -> dict[str, float]:
        """The mean over the ranks of each 0-d tensor in ``values``: one all_reduce, one host sync."""
        if not values:
            return {}
        keys = sorted(values)
        tensor = torch.stack([values[k].to(device, torch.float64) for k in keys])
        if self.world > 1:
            dist.all_reduce(tensor)
            tensor /= self.world
        return dict(zip(keys, tensor.tolist()))

    def from_main(self, compute: Callable[[], T]) -> T:
        """``compute()`` run on rank 0 alone, its result (or the exception it raised) given to every rank.

        For what only rank 0 may be able to read: on several nodes, the run folder may be on its node only.
        """
        if self.world == 1:
            return compute()
        box: list[Any] = [None]
        if self.main:
            try:
                box[0] = (True, compute())
            except Exception as error:  # every rank raises it, rather than the others waiting forever
                box[0] = (False, error)
        dist.broadcast_object_list(box, src=0)
        ok, value = box[0]
        if not ok:
            raise value
        return value


def _buckets(params: list[torch.nn.Parameter], cap_bytes: int) -> list[list[torch.nn.Parameter]]:
    """Consecutive runs of ``params`` of one dtype, each closed once it holds ``cap_bytes`` or more."""
    buckets: list[list[torch.nn.Parameter]] = []
    size = 0
    for p in params:
        if not buckets or size >= cap_bytes or p.dtype != buckets[-1][0].dtype:
            buckets.append([])
            size = 0
        buckets[-1].append(p)
        size += p.numel() * p.element_size()
    return buckets
