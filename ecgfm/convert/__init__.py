"""Converters from official checkpoints (ECGFounder, ST-MEM) to ecgfm models.

Pickled checkpoints are only ever opened with ``torch.load(..., weights_only=True)``.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.convert import ecgfounder, st_mem
    from ecgfm.convert.ecgfounder import ecgfounder_state_dict_to_ecgfm, load_ecgfounder
    from ecgfm.convert.st_mem import load_st_mem_encoder, load_st_mem_pretrain

__getattr__, __dir__ = attach(
    __name__,
    submodules=["ecgfounder", "st_mem"],
    attributes={
        "ecgfm.convert.ecgfounder": ["ecgfounder_state_dict_to_ecgfm", "load_ecgfounder"],
        "ecgfm.convert.st_mem": ["load_st_mem_encoder", "load_st_mem_pretrain"],
    },
)

__all__ = [
    "ecgfounder",
    "ecgfounder_state_dict_to_ecgfm",
    "load_ecgfounder",
    "load_st_mem_encoder",
    "load_st_mem_pretrain",
    "st_mem",
]
