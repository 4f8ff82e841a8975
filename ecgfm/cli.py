"""The ``ecgfm`` command line: list / info / embed / convert / probe.

::

    ecgfm list [PATTERN]
    ecgfm info NAME [--json]
    ecgfm embed NAME INPUT... -o out.npz [--fs HZ --leads I,II,... --units mV]
    ecgfm convert {ecgfounder,st-mem} SRC DST_DIR
    ecgfm probe NAME --task cinc2017|ptbxl-superclass|ptbxl-mi --data-root DIR  (ecgfm.eval)

``NAME`` is anything :func:`ecgfm.from_pretrained` accepts (a registered name, a directory
written by ``save_pretrained``, ``hf-hub:owner/repo``). ``embed`` inputs are WFDB records
(``path/rec``, ``path/rec.hea``), directories (searched recursively for ``*.hea`` and
``*.npy``) and ``.npy`` arrays ``(C, T)`` (they need ``--fs`` and ``--leads``). Exit status:
0 success, 1 some input failed (each failure is listed; nothing is written unless
``--partial``), 2 usage or loading error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["main"]


class _CliError(Exception):
    """A usage or loading error: printed without a traceback, exit status 2."""


# ------------------------------------------------------------------------------ list / info
def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from ecgfm.hub import list_pretrained, pretrained_card

    names = list_pretrained(args.pattern)
    if not names:
        print(f"no pretrained entry matches {args.pattern!r}", file=out)
        return 0
    rows = [("name", "arch", "leads", "fs", "length", "dim", "licence", "weights")]
    for n in names:
        c = pretrained_card(n)
        w = c.weights
        where = "bundled" if w.file else "hf-hub" if w.hf_repo_id else "user file"
        leads = ",".join(c.input.leads) if len(c.input.leads) < 12 else "12-lead"
        rows.append(
            (n, c.arch, leads, f"{c.input.fs:g}", str(c.input.length), str(c.embed_dim),
             c.license, where)
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip(), file=out)
    return 0


def _cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    from ecgfm.hub import card_to_markdown, is_pretrained, pretrained_card

    if is_pretrained(args.name):
        card = pretrained_card(args.name)
    else:
        card = _load(args.name, None, None).card
    print(json.dumps(card.to_dict(), indent=2) if args.json else card_to_markdown(card), file=out)
    return 0


def _load(name: str, device: str | None, checkpoint: str | None) -> Any:
    from ecgfm.hub import from_pretrained

    try:
        return from_pretrained(name, device=device, checkpoint_path=checkpoint)
    except (KeyError, FileNotFoundError, ValueError, TypeError) as err:
        raise _CliError(f"cannot load {name!r}: {err}") from None


# ------------------------------------------------------------------------------------ embed
def _expand_inputs(inputs: Sequence[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Input paths -> (record paths, errors). WFDB records are given without extension."""
    found: list[Path] = []
    errors: list[tuple[str, str]] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_dir():
            items = sorted([h.with_suffix("") for h in p.rglob("*.hea")] + list(p.rglob("*.npy")))
            if not items:
                errors.append((raw, "directory holds no WFDB header (*.hea) or .npy file"))
            found.extend(items)
        elif p.suffix == ".npy":
            if p.is_file():
                found.append(p)
            else:
                errors.append((raw, "file not found"))
        elif p.suffix == ".hea" or p.with_name(p.name + ".hea").is_file():
            found.append(p.with_suffix("") if p.suffix == ".hea" else p)
        elif p.suffix in (".dat", ".mat") and p.with_suffix(".hea").is_file():
            found.append(p.with_suffix(""))
        else:
            errors.append((raw, "not a WFDB record (no .hea header), a .npy file or a directory"))
    return list(dict.fromkeys(found)), errors


def _read_one(path: Path, args: argparse.Namespace) -> Any:
    """One input as an ECGRecord (WFDB) or (array, fs, leads) (.npy)."""
    from ecgfm.signal import ECGRecord

    if path.suffix == ".npy":
        if args.fs is None or args.leads is None:
            raise ValueError(".npy input needs --fs and --leads (the array holds no metadata)")
        arr = np.load(path, allow_pickle=False)
        return ECGRecord.from_array(
            arr, args.fs, args.leads, units=args.units, nan_policy=args.nan_policy,
            record_id=path.stem, meta={"source": str(path), "source_fs": args.fs},
        )  # fmt: skip
    from ecgfm.data import read_wfdb

    rec = read_wfdb(path, nan_policy=args.nan_policy)  # the header gives fs and units
    if args.fs is not None and args.fs != rec.fs:
        raise ValueError(
            f"the WFDB header says {rec.fs:g} Hz but --fs {args.fs:g} was given (--fs is for "
            ".npy inputs; WFDB headers are authoritative)"
        )
    return rec


def _atomic_save(path: Path, embeddings: np.ndarray, extra: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if path.suffix == ".npz":
                np.savez(f, embeddings=embeddings, **extra)
            else:
                np.save(f, embeddings)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _progress(items: list[Path], enabled: bool) -> Any:
    if not enabled:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc="reading + embedding", unit="record", file=sys.stderr)


def _cmd_embed(args: argparse.Namespace, out: TextIO) -> int:
    import torch

    from ecgfm.hub._embed import Prepared, embed_windows
    from ecgfm.leads import normalize_lead_names

    output = Path(args.output)
    if args.batch_size < 1:
        raise _CliError(f"--batch-size must be >= 1, got {args.batch_size}")
    if output.suffix not in (".npy", ".npz"):
        raise _CliError(f"-o must end in .npy or .npz, got {output}")
    if args.leads is not None:
        try:
            args.leads = normalize_lead_names([s for s in args.leads.split(",") if s.strip()])
        except (TypeError, ValueError) as err:
            raise _CliError(f"--leads: {err}") from None
    model = _load(args.name, args.device, args.checkpoint_path)
    card = model.card
    paths, errors = _expand_inputs(args.inputs)
    embeddings: list[np.ndarray] = []
    ids: list[str] = []
    sources: list[str] = []
    stats = {"resampled": 0, "derived": 0, "repaired_values": 0, "windows": 0, "seconds": 0.0}
    fs_seen: dict[float, int] = {}
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    pending: list[Any] = []

    def flush() -> None:
        # Windows of several records share forward passes; pooling stays per record.
        if not pending:
            return
        batch = Prepared(
            torch.cat([p.windows for p in pending]),
            torch.cat([p.record_index + i for i, p in enumerate(pending)]),
            len(pending),
            single=False,
        )
        try:
            emb, _ = embed_windows(
                model.encoder, batch, batch_size=args.batch_size,
                autocast_dtype=torch.bfloat16 if args.precision == "bf16" else None,
            )  # fmt: skip
        except (RuntimeError, FloatingPointError) as err:
            raise _CliError(f"the model failed on a batch of records: {err}") from None
        embeddings.extend(emb.numpy())
        pending.clear()

    for path in _progress(paths, show):
        try:
            rec = _read_one(path, args)
            prepared = model.prepare(rec, windows=args.windows, nan_policy=args.nan_policy)
        except Exception as err:  # every failure is reported per file, then exit 1
            errors.append((str(path), f"{type(err).__name__}: {err}"))
            continue
        pending.append(prepared)
        ids.append(str(rec.record_id if rec.record_id is not None else path.stem))
        sources.append(str(path))
        fs_seen[rec.fs] = fs_seen.get(rec.fs, 0) + 1
        stats["resampled"] += int(rec.fs != card.input.fs)
        stats["derived"] += int(not set(card.input.leads) <= set(rec.leads))
        stats["repaired_values"] += int(rec.meta.get("nonfinite_repaired", 0) or 0)
        stats["windows"] += int(prepared.windows.shape[0])
        stats["seconds"] += rec.duration
        if sum(p.windows.shape[0] for p in pending) >= args.batch_size:
            flush()
    flush()
    fs_text = ", ".join(f"{n} at {fs:g} Hz" for fs, n in sorted(fs_seen.items())) or "none"
    print(
        f"model {card.name}: {card.input.fs:g} Hz, {len(card.input.leads)} leads, windows of "
        f"{card.input.length} samples, {card.embed_dim}-d embeddings\n"
        f"read {len(ids)} record(s) ({fs_text}; {stats['seconds']:.1f} s of signal); "
        f"resampled {stats['resampled']}; leads derived for {stats['derived']}; "
        f"NaN/Inf values repaired {stats['repaired_values']}; {stats['windows']} window(s)",
        file=sys.stderr,
    )
    if errors:
        print(f"{len(errors)} input(s) failed:", file=sys.stderr)
        for where, msg in errors:
            print(f"  {where}: {msg}", file=sys.stderr)
    if not embeddings:
        print("nothing embedded; no output written", file=sys.stderr)
        return 1
    if errors and not args.partial:
        print(f"no output written (pass --partial to write the {len(embeddings)} successes)",
              file=sys.stderr)  # fmt: skip
        return 1
    matrix = np.stack(embeddings).astype(np.float32)
    extra = {
        "record_ids": np.asarray(ids),
        "sources": np.asarray(sources),
        "model": np.asarray(card.name),
    }
    _atomic_save(output, matrix, extra)
    print(f"wrote {output} {tuple(matrix.shape)}", file=out)
    return 1 if errors else 0


# ---------------------------------------------------------------------------------- convert
def _cmd_convert(args: argparse.Namespace, out: TextIO) -> int:
    from ecgfm.hub import pretrained_card, save_pretrained
    from ecgfm.hub._convert import card_for_converted

    src = Path(args.src).expanduser()
    if not src.is_file():
        raise _CliError(f"{src} is not a file")
    try:
        if args.kind == "ecgfounder":
            from ecgfm.convert.ecgfounder import load_ecgfounder

            model = load_ecgfounder(src, n_classes=0)
            base = "ecgfounder-lead1" if len(model.in_leads) == 1 else "ecgfounder-12lead"
        else:
            from ecgfm.hub._convert import st_mem_encoder_from_official

            model = st_mem_encoder_from_official(src)
            base = "st-mem-vit-base"
        card = card_for_converted(model, pretrained_card(base), src, name=args.name)
        target = save_pretrained(model, args.dst, card, overwrite=args.overwrite)
    except (KeyError, FileNotFoundError, FileExistsError, ValueError, TypeError) as err:
        raise _CliError(f"convert failed: {err}") from None
    print(f"wrote {target} (card {card.name!r}, {card.num_params:,} parameters)", file=out)
    if not card.weights.redistributable:
        print(f"note: licence {card.license}: do not upload or share {target}", file=out)
    return 0


# ------------------------------------------------------------------------------------ main
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ecgfm", description="ECG foundation models: weights hub.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list the registered pretrained entries")
    s.add_argument("pattern", nargs="?", default=None, help="glob filter, e.g. 'ecgfounder-*'")

    s = sub.add_parser("info", help="show the card of an entry or model directory")
    s.add_argument("name")
    s.add_argument("--json", action="store_true", help="print the card as JSON")

    s = sub.add_parser("embed", help="embed WFDB records / .npy arrays with a pretrained model")
    s.add_argument("name", help="registered name, model directory or hf-hub:owner/repo")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="WFDB record, directory or .npy")
    s.add_argument("-o", "--output", required=True, help="out.npy (matrix) or out.npz")
    s.add_argument("--fs", type=float, default=None, help="sampling rate of .npy inputs (Hz)")
    s.add_argument("--leads", default=None, help="comma-separated leads of .npy inputs")
    s.add_argument("--units", default="mV", help="units of .npy inputs (mV, uV, V); WFDB "
                   "headers carry their own")  # fmt: skip
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--windows", default="all", choices=["all", "disjoint", "center", "first"])
    s.add_argument("--nan-policy", default="raise", choices=["raise", "zero"])
    s.add_argument("--precision", default=None, choices=["fp32", "bf16"])
    s.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default cpu)")
    s.add_argument("--checkpoint-path", default=None, help="weights file for user-file entries")
    s.add_argument("--partial", action="store_true", help="write the successes even if some fail")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None)
    g.add_argument("--no-progress", dest="progress", action="store_false")

    s = sub.add_parser("convert", help="convert an official checkpoint to an ecgfm directory")
    s.add_argument("kind", choices=["ecgfounder", "st-mem"])
    s.add_argument("src", help="official .pth file")
    s.add_argument("dst", help="output directory")
    s.add_argument("--name", default=None, help="card name (default: the official entry's)")
    s.add_argument("--overwrite", action="store_true")

    from ecgfm.eval.cli_probe import add_probe_parser  # imports argparse only

    add_probe_parser(sub)
    return p


def _cmd_probe(args: argparse.Namespace, out: TextIO) -> int:
    from ecgfm.eval.cli_probe import run_probe  # prints to stdout/stderr itself

    return run_probe(args)


_COMMANDS = {
    "list": _cmd_list,
    "info": _cmd_info,
    "embed": _cmd_embed,
    "convert": _cmd_convert,
    "probe": _cmd_probe,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return int(exc.code or 0)
    try:
        return _COMMANDS[args.command](args, sys.stdout)
    except _CliError as err:
        print(f"ecgfm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
