"""Converters from official checkpoints (ECGFounder, ST-MEM) to ecgfm models.

Pickled checkpoints are only ever opened with ``torch.load(..., weights_only=True)``.
"""

from ecgfm.convert.ecgfounder import ecgfounder_state_dict_to_ecgfm, load_ecgfounder  # noqa: F401
from ecgfm.convert.st_mem import load_st_mem_encoder, load_st_mem_pretrain  # noqa: F401
