"""Quick start: embed real ECGs with the bundled pretrained ``selfmis-lead1`` encoder.

    python examples/quickstart.py                           # the PTB-XL record bundled with ecgfm
    python examples/quickstart.py PATH/TO/RECORD ...        # WFDB records (.hea/.dat or .mat)
    python examples/quickstart.py RECORDS... --out emb.npz  # also save the embeddings
    python examples/quickstart.py ../shared/data/cinc2017/A00001 --rename ECG=I  # smartwatch

Each record is read (calibrated to mV, lead names normalised; NaN samples are set to 0 and
reported by the reader), then ``model.embed`` brings it to the model's input contract: lead I
is selected (or derived), the signal is resampled to 500 Hz, filtered (notch, band-pass 0.67-40
Hz, baseline removal), cut into 10 s windows and z-scored; the window embeddings of a record
are averaged into one 1024-d vector. Records without lead I (or the leads to derive it) or
shorter than the model needs are reported and counted, never skipped silently. The command
line does the same (``--rename`` is one option shared with it)::

    ecgfm embed selfmis-lead1 ../shared/data/cinc2017/A00001 --rename ECG=I -o emb.npz
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import ecgfm
from ecgfm.cli import add_rename_argument, command_line_interface
from ecgfm.data import example_record, read_wfdb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="*", help="WFDB record paths (default: bundled record)")
    parser.add_argument("--model", default="selfmis-lead1", help="pretrained entry or directory")
    parser.add_argument("--out", default=None, help="write the embeddings to this .npz file")
    add_rename_argument(parser)  # the same --rename CHANNEL=LEAD as `ecgfm embed`
    args = parser.parse_args(argv)
    with command_line_interface():  # error advice names this script's flags, not arguments
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    model = ecgfm.from_pretrained(args.model)  # bundled file, sha256-verified before loading
    spec = model.card.input
    print(
        f"ecgfm {ecgfm.__version__}: {args.model!r} ({model.card.arch}, "
        f"{model.card.num_params:,} parameters) expects {', '.join(spec.leads)} at {spec.fs:g} Hz, "
        f"{spec.length} samples, preset {spec.preset!r}"
    )
    weights = model.card.weights
    if args.model in ecgfm.list_pretrained() and weights.file:  # a registered, bundled entry
        print(f"weights: bundled {weights.file} (sha256 {weights.sha256[:12]}...)")

    ids, embeddings, failed = [], [], []
    for path in args.records or [None]:
        try:
            if path is None:
                rec = example_record()
            else:
                rec = read_wfdb(path, nan_policy="zero", rename=args.rename)
            emb = model.embed(rec.signal, fs=rec.fs, leads=rec.leads)
        except (OSError, ValueError) as err:  # unreadable file, missing lead, too short, ...
            failed.append(path)
            print(f"\n{path}: NOT embedded: {err}", file=sys.stderr)
            continue
        emb = np.asarray(emb, dtype=np.float32)
        ids.append(rec.record_id)
        embeddings.append(emb)
        print(
            f"\n{rec.record_id}: {rec.num_leads} leads at {rec.fs:g} Hz, {rec.duration:.1f} s "
            f"-> embedding {emb.shape}, L2 norm {np.linalg.norm(emb):.2f}, "
            f"first values {np.round(emb[:4], 3)}"
        )
    if len(embeddings) > 1:
        z = np.stack(embeddings)
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
        print("\ncosine similarity between the records' embeddings:")
        print(np.array2string(z @ z.T, precision=3))
    if args.out and embeddings:
        np.savez(args.out, ids=np.array(ids), embeddings=np.stack(embeddings))
        print(f"\nwrote {len(ids)} embeddings to {args.out}")
    print(f"\nembedded {len(embeddings)} record(s), {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
