"""Small test models shared by several test modules (tests/ is on ``sys.path``)."""

from __future__ import annotations

import torch

from ecgfm.hub import PretrainedEncoder, make_card
from ecgfm.models import create_model
from ecgfm.transforms.presets import get_preset


def small_lead1_encoder(name: str) -> PretrainedEncoder:
    """A seeded random ``net1d_small`` lead-I encoder with a ``selfmis`` card named ``name``."""
    torch.manual_seed(0)
    model = create_model("net1d_small", in_channels=1).eval()
    card = make_card(
        model, name=name, preset=get_preset("selfmis", leads=("I",)),
        license="MIT", paper="none (test model)", training="random weights",
    )  # fmt: skip
    return PretrainedEncoder(model, card)
