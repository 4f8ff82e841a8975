"""Turn a trained student (``student.safetensors`` of train_selfmis.py) into an ecgfm model
directory that ``ecgfm probe`` reads: the card, preset (SelfMIS, lead I) and architecture of
the registered ``selfmis-lead1`` with the new weights (a derived card, bf16 storage).

    python artifacts/selfmis-v2/export_dir.py runs/v2/cmsc/student.safetensors runs/v2/cmsc_dir \
        selfmis-lead1-cmsc-dev
"""

from __future__ import annotations

import sys

import ecgfm
from ecgfm.train.encoders import load_encoder


def main(student: str, directory: str, name: str) -> None:
    base = ecgfm.from_pretrained("selfmis-lead1")
    base.encoder.load_state_dict(load_encoder(student).state_dict())
    ecgfm.save_pretrained(
        base, directory, name=name, training=f"development run, weights {student}",
        storage_dtype="bfloat16", overwrite=True,
    )  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:4])
