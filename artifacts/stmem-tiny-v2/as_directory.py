"""Wrap the run's bf16 encoder export as a ``save_pretrained`` directory for ``ecgfm probe``.

The run was started before ``fit`` wrote ``<out>/encoder/`` itself (this session's
``EncoderExport``), so it left a bare ``encoder.safetensors``.

    python artifacts/stmem-tiny-v2/as_directory.py /work/runs/stmem-v2/encoder.safetensors \
        /work/runs/stmem-v2/encoder
"""

from __future__ import annotations

import sys

from ecgfm.hub import make_card, save_pretrained
from ecgfm.train.encoders import load_encoder
from ecgfm.transforms.presets import get_preset

source, target = sys.argv[1], sys.argv[2]
encoder = load_encoder(source)
card = make_card(
    encoder,
    name="st-mem-tiny-v2",
    preset=get_preset("st_mem"),
    license="MIT",
    paper="ST-MEM (Na et al., ICLR 2024), re-implemented and trained by ecgfm",
    training="fourth leg of st-mem-tiny, see artifacts/stmem-tiny-v2/README.md",
    storage_dtype="bfloat16",
)
print(save_pretrained(encoder, target, card))
