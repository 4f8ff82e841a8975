"""Quick start: read real ECGs, bring them to a model's input contract, embed them if weights exist.

    python examples/quickstart.py                       # the PTB-XL record bundled with ecgfm
    python examples/quickstart.py PATH/TO/RECORD ...    # any WFDB records (.hea/.dat or .mat)

Each record is read (calibrated to mV, lead names normalised), then prepared with the
``selfmis`` preset for the single-lead (lead I) student: resampled to 500 Hz, notch + band-pass
+ baseline removal, cut into 10 s windows, z-scored. If the pretrained ``selfmis-lead1`` entry is
available, the windows are embedded too.
"""

from __future__ import annotations

import argparse

import numpy as np

import ecgfm
from ecgfm.data import example_record, read_wfdb
from ecgfm.transforms.presets import get_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="*", help="WFDB record paths (default: bundled record)")
    args = parser.parse_args()
    records = [read_wfdb(p, nan_policy="zero") for p in args.records] or [example_record()]
    preset = get_preset("selfmis", leads=("I",))
    print(
        f"ecgfm {ecgfm.__version__}; preset {preset.name!r}: {preset.fs:g} Hz, "
        f"{preset.length} samples, leads {preset.leads}"
    )
    for rec in records:
        print(
            f"\n{rec.record_id}: {rec.num_leads} leads {list(rec.leads)} at {rec.fs:g} Hz, "
            f"{rec.duration:.1f} s, amplitude range "
            f"[{rec.signal.min():.2f}, {rec.signal.max():.2f}] mV"
        )
        windows, _ = preset.prepare(rec.signal, rec.fs, rec.leads)
        w = windows.numpy()
        print(
            f"  model input: {tuple(w.shape)} (windows, leads, samples), "
            f"mean {w.mean():+.3f}, std {w.std():.3f}, finite: {bool(np.isfinite(w).all())}"
        )
    names = ecgfm.list_pretrained("selfmis-lead1") if hasattr(ecgfm, "list_pretrained") else []
    if not names:
        print(
            "\nNo pretrained 'selfmis-lead1' weights are registered in this version yet; "
            "see docs/model_zoo.md. Reading and preprocessing worked."
        )
        return
    model = ecgfm.from_pretrained("selfmis-lead1")
    for rec in records:
        emb = model.embed(rec.signal, fs=rec.fs, leads=rec.leads)
        print(f"{rec.record_id}: embedding {tuple(emb.shape)}, first values {np.round(emb[:4], 3)}")


if __name__ == "__main__":
    main()
