"""Deprecated location of :mod:`ecgfm.train.ddp` (``torchrun`` setup and DDP); removed in
ecgfm 0.2.0. Importing it warns; every name is the same object as in :mod:`ecgfm.train.ddp`.

The module was renamed so that one name no longer means two things: :mod:`ecgfm.distributed`
is the process-group query and autograd-aware gather of the losses, ``ecgfm.train.ddp`` the
training loops' process-group setup.
"""

from ecgfm._deprecated import warn_deprecated
from ecgfm.train.ddp import (
    DistInfo,
    all_reduce_mean,
    barrier,
    cleanup_distributed,
    init_distributed,
    unwrap,
    wrap_ddp,
)

__all__ = [
    "DistInfo",
    "all_reduce_mean",
    "barrier",
    "cleanup_distributed",
    "init_distributed",
    "unwrap",
    "wrap_ddp",
]

warn_deprecated("ecgfm.train.distributed", "ecgfm.train.ddp")
