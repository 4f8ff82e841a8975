"""Step-indexed, resumable, rank-sharded batches (a resumable ``DistributedSampler``).

``torch.utils.data.DistributedSampler`` shuffles per epoch but cannot restart in the middle of
one. :class:`StepSampler` makes the batch of every optimiser step a pure function of
``(seed, step, rank, world_size)``:

- epoch ``e = step // steps_per_epoch`` uses the permutation ``randperm(N)`` drawn from a CPU
  generator seeded with ``(seed, e)``;
- the epoch is cut into global batches of ``world_size * batch_size`` indices (the last,
  incomplete global batch is dropped so every rank always sees the same batch size, which the
  gathered contrastive losses and the SigLIP normalisation assume);
- rank ``r`` takes the ``r``-th slice of ``batch_size`` indices of the global batch.

Resuming at step ``s`` therefore continues with exactly the batches an uninterrupted run would
have seen; no sampler state needs to be saved. It is also a ``Sampler`` of index batches, so it
can be given to ``DataLoader(batch_sampler=...)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["StepSampler", "derive_seed", "step_generator"]

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads consecutive ids over 64 bits
_MASK = (1 << 63) - 1


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (order matters); stable across runs and platforms."""
    h = 0x2545F4914F6CDD1D
    for p in parts:
        if isinstance(p, bool) or not isinstance(p, int):
            raise TypeError(f"seed parts must be ints, got {p!r}")
        h = ((h ^ (p & 0xFFFFFFFFFFFFFFFF)) * _MIX + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & _MASK


def step_generator(seed: int, step: int, rank: int = 0, stream: int = 0) -> torch.Generator:
    """A CPU generator for the random draws of one step on one rank (crops, masks, views).

    ``stream`` separates independent uses within a step (e.g. 0 = crops, 1 = masking).
    """
    return torch.Generator().manual_seed(derive_seed(seed, step, rank, stream))


class StepSampler(Sampler[list[int]]):
    """Batches of dataset indices indexed by optimiser step (see the module docstring).

    Args:
        num_samples: dataset size ``N``.
        batch_size: indices per rank per step.
        rank, world_size: this process and the number of processes.
        seed: shuffling seed (shared by all ranks).
        start_step: first step yielded by ``iter()`` (resume point).
        num_steps: number of steps yielded by ``iter()`` (default: until the end of the epoch
            containing ``start_step``).

    Raises:
        ValueError: the global batch ``world_size * batch_size`` is larger than ``N``.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        start_step: int = 0,
        num_steps: int | None = None,
    ) -> None:
        for name, value, low in (
            ("num_samples", num_samples, 1),
            ("batch_size", batch_size, 1),
            ("world_size", world_size, 1),
            ("rank", rank, 0),
            ("start_step", start_step, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if rank >= world_size:
            raise ValueError(f"rank {rank} must be < world_size {world_size}")
        if world_size * batch_size > num_samples:
            raise ValueError(
                f"a global batch of {world_size} x {batch_size} = {world_size * batch_size} "
                f"indices needs at least that many records, the dataset has {num_samples}; "
                "lower --batch-size or add records"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = int(seed)
        self.start_step = start_step
        self.num_steps = num_steps
        self.steps_per_epoch = num_samples // (world_size * batch_size)
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(derive_seed(self.seed, epoch, 0x5A))
            self._perm = torch.randperm(self.num_samples, generator=g)
            self._perm_epoch = epoch
        return self._perm

    def epoch_of(self, step: int) -> int:
        """Epoch (pass over the data) that step ``step`` belongs to."""
        return step // self.steps_per_epoch

    def indices(self, step: int) -> torch.Tensor:
        """This rank's ``(batch_size,)`` long tensor of dataset indices for ``step``."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        epoch, pos = divmod(step, self.steps_per_epoch)
        global_size = self.world_size * self.batch_size
        start = pos * global_size + self.rank * self.batch_size
        return self._permutation(epoch)[start : start + self.batch_size].clone()

    def __iter__(self) -> Iterator[list[int]]:
        if self.num_steps is None:
            stop = (self.epoch_of(self.start_step) + 1) * self.steps_per_epoch
        else:
            stop = self.start_step + self.num_steps
        for step in range(self.start_step, stop):
            yield self.indices(step).tolist()

    def __len__(self) -> int:
        if self.num_steps is not None:
            return self.num_steps
        return (self.epoch_of(self.start_step) + 1) * self.steps_per_epoch - self.start_step
