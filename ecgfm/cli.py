"""The ``ecgfm`` command line: list / info / embed / convert / probe.

::

    ecgfm --version
    ecgfm list [PATTERN]
    ecgfm info NAME [--json]
    ecgfm embed NAME INPUT... -o out.npz [--rename ECG=I]             (WFDB records)
    ecgfm embed NAME X.npy... -o out.npz --fs HZ --leads I,II,... [--units mV]
    ecgfm convert {ecgfounder,st-mem} SRC DST_DIR [--name NAME] [--use-bn]
    ecgfm probe NAME --task cinc2017|ptbxl-superclass|ptbxl-mi --data-root DIR  (ecgfm.eval)

``NAME`` is anything :func:`ecgfm.from_pretrained` accepts (a registered name, a directory
written by ``save_pretrained``, ``hf-hub:owner/repo``). ``embed`` inputs are WFDB records
(``path/rec``, ``path/rec.hea``), directories (searched recursively for ``*.hea`` and
``*.npy``) and ``.npy`` arrays ``(C, T)``. A WFDB header names its channels; ``--rename
CHANNEL=LEAD`` names a channel whose header name is not a lead (CinC 2017: ``ECG=I``). A
``.npy`` array holds no metadata: ``--fs`` and ``--leads`` describe it. Each option has that
one meaning and is never ignored: ``--leads``/``--units`` with WFDB inputs or ``--rename``
with ``.npy`` inputs is a usage error (embed the two kinds in separate calls). Exit status:
0 success, 1 some input failed (each failure is listed; nothing is written unless
``--partial``), 2 usage or loading error (one line, no traceback). Error advice names the
command line's flags and commands (:mod:`ecgfm._interface`). Output cut short by a closed
pipe (``ecgfm info NAME | head``) ends quietly with status 141 (128 + SIGPIPE).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ecgfm._interface import command_line_interface
from ecgfm._version import __version__

if TYPE_CHECKING:
    import numpy as np

__all__ = ["add_rename_argument", "command_line_interface", "main"]


class _CliError(Exception):
    """A usage or loading error: printed without a traceback, exit status 2."""


# ----------------------------------------------------------------------------- shared options
class _RenameAction(argparse.Action):
    """``--rename OLD=NEW`` (repeatable) -> ``{OLD: NEW}`` on the namespace, checked at parse."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from ecgfm.leads import normalize_lead_name

        flag = option_string or "--rename"
        old, sep, new = str(values).partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            parser.error(f"{flag} takes CHANNEL=LEAD, e.g. {flag} ECG=I; got {values!r}")
        try:
            normalize_lead_name(new)
        except ValueError:
            parser.error(
                f"{flag} {values}: {new!r} is not an ECG lead name (I, II, III, aVR, aVL, aVF, "
                "V1-V6 and their aliases)"
            )
        mapping = dict(getattr(namespace, self.dest, None) or {})
        if mapping.get(old, new) != new:
            parser.error(f"{flag} names channel {old!r} twice ({mapping[old]!r} and {new!r})")
        mapping[old] = new
        setattr(namespace, self.dest, mapping)


def add_rename_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--rename CHANNEL=LEAD`` (repeatable) to ``parser``: ``args.rename`` is a dict.

    The option of ``ecgfm embed`` and of ``examples/quickstart.py``: it names WFDB header
    channels whose name is not a lead (``ECG=I`` for CinC 2017) and becomes ``read_wfdb``'s
    ``rename=``. Malformed values and non-lead targets are usage errors (exit status 2).
    """
    parser.add_argument(
        "--rename",
        action=_RenameAction,
        default=None,
        metavar="CHANNEL=LEAD",
        help="name a WFDB channel whose header name is not a lead, e.g. ECG=I for CinC 2017 "
        "(repeatable)",
    )


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
    except (KeyError, OSError, ValueError, TypeError) as err:
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


def _check_input_options(paths: list[Path], args: argparse.Namespace) -> None:
    """Options that describe one kind of input must not meet (and be ignored for) the other."""
    npy = [p for p in paths if p.suffix == ".npy"]
    wfdb = [p for p in paths if p.suffix != ".npy"]
    if wfdb:
        given = [f for f, v in (("--leads", args.leads), ("--units", args.units)) if v is not None]
        if given:
            verb = "describes" if len(given) == 1 else "describe"
            raise _CliError(
                f"{' and '.join(given)} {verb} .npy arrays, but {len(wfdb)} input(s) are WFDB "
                f"records (e.g. {wfdb[0]}), whose header gives their leads and units. Leave "
                f"{' and '.join(given)} out; to name a header channel that is not a lead, pass "
                "--rename CHANNEL=LEAD (CinC 2017: --rename ECG=I). Embed .npy arrays and WFDB "
                "records in separate calls"
            )
    if npy and args.rename:
        raise _CliError(
            f"--rename names WFDB header channels, but {len(npy)} input(s) are .npy arrays "
            f"(e.g. {npy[0]}), which have no channel names: name their channels with --leads. "
            "Embed .npy arrays and WFDB records in separate calls"
        )


def _read_one(path: Path, args: argparse.Namespace) -> Any:
    """One input as an ECGRecord (WFDB or .npy)."""
    import numpy as np

    from ecgfm.signal import ECGRecord

    if path.suffix == ".npy":
        if args.fs is None or args.leads is None:
            raise ValueError(".npy input needs --fs and --leads (the array holds no metadata)")
        arr = np.load(path, allow_pickle=False)
        return ECGRecord.from_array(
            arr, args.fs, args.leads, units=args.units or "mV", nan_policy=args.nan_policy,
            record_id=path.stem, meta={"source": str(path), "source_fs": args.fs},
        )  # fmt: skip
    from ecgfm.data import read_wfdb

    # The header gives fs, units and channel names; --rename names the non-lead ones.
    rec = read_wfdb(path, nan_policy=args.nan_policy, rename=args.rename)
    if args.fs is not None and args.fs != rec.fs:
        raise ValueError(
            f"the WFDB header says {rec.fs:g} Hz but --fs {args.fs:g} was given (--fs is for "
            ".npy inputs; WFDB headers are authoritative)"
        )
    return rec


def _atomic_save(path: Path, embeddings: np.ndarray, extra: dict[str, np.ndarray]) -> None:
    import numpy as np

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
    import numpy as np
    import torch

    from ecgfm.hub import EmbeddingEngine
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
    paths, errors = _expand_inputs(args.inputs)
    _check_input_options(paths, args)
    model = _load(args.name, args.device, args.checkpoint_path)
    card = model.card
    # the one embedding path, with the model's speed options (model.accelerate: "auto")
    engine = EmbeddingEngine(model, batch_size=args.batch_size, precision=args.precision)
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
        windows = torch.cat([p.windows for p in pending])
        record_index = torch.cat([p.record_index + i for i, p in enumerate(pending)])
        try:
            emb = engine.record_means([(windows, record_index)], len(pending)).result()
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
    from ecgfm.hub._converted_cards import card_for_converted

    src = Path(args.src).expanduser()
    if not src.is_file():
        raise _CliError(f"{src} is not a file")
    if args.use_bn and args.kind != "ecgfounder":
        raise _CliError("--use-bn applies to ECGFounder (Net1D) checkpoints only")
    try:
        if args.kind == "ecgfounder":
            from ecgfm.convert.ecgfounder import load_ecgfounder

            model = load_ecgfounder(src, num_classes=0, use_bn=args.use_bn)
            base = "ecgfounder-lead1" if len(model.in_leads) == 1 else "ecgfounder-12lead"
        else:
            from ecgfm.hub._converted_cards import st_mem_encoder_from_official

            model = st_mem_encoder_from_official(src)
            base = "st-mem-vit-base"
        card = card_for_converted(model, pretrained_card(base), src, name=args.name)
        target = save_pretrained(model, args.dst, card, overwrite=args.overwrite)
    except (KeyError, OSError, ValueError, TypeError) as err:
        raise _CliError(f"convert failed: {err}") from None
    print(f"wrote {target} (card {card.name!r}, {card.num_params:,} parameters)", file=out)
    if not card.weights.redistributable:
        print(f"note: licence {card.license}: do not upload or share {target}", file=out)
    return 0


# ------------------------------------------------------------------------------------ main
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ecgfm", description="ECG foundation models: weights hub.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list the registered pretrained entries")
    s.add_argument("pattern", nargs="?", default=None, help="glob filter, e.g. 'ecgfounder-*'")

    s = sub.add_parser("info", help="show the card of an entry or model directory")
    s.add_argument("name")
    s.add_argument("--json", action="store_true", help="print the card as JSON")

    s = sub.add_parser(
        "embed",
        help="embed WFDB records / .npy arrays with a pretrained model",
        description="Embed WFDB records (their header gives rate, units and leads; --rename "
        "names channels that are not leads) or .npy arrays (described by --fs, --leads, "
        "--units). Options of one kind of input given with the other are usage errors.",
    )
    s.add_argument("name", help="registered name, model directory or hf-hub:owner/repo")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="WFDB record, directory or .npy")
    s.add_argument("-o", "--output", required=True, help="out.npy (matrix) or out.npz")
    s.add_argument("--fs", type=float, default=None, help="sampling rate of .npy inputs (Hz); "
                   "for WFDB records it must agree with the header")  # fmt: skip
    s.add_argument("--leads", default=None, help="comma-separated leads of the channels of .npy "
                   "inputs (an error with WFDB records: use --rename)")  # fmt: skip
    s.add_argument("--units", default=None, help="units of .npy inputs (mV, uV, V; default mV); "
                   "an error with WFDB records, whose headers carry their own")  # fmt: skip
    add_rename_argument(s)
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--windows", default="all", choices=["all", "disjoint", "center", "first"])
    s.add_argument("--nan-policy", default="raise", choices=["raise", "zero"])
    s.add_argument("--precision", default=None, choices=["fp32", "bf16"])
    s.add_argument("--device", default=None, help="torch device, e.g. cpu, cuda, cuda:1, mps "
                   "(default cpu); checked before loading")  # fmt: skip
    s.add_argument("--checkpoint-path", default=None, help="weights file for user-file entries")
    s.add_argument("--partial", action="store_true", help="write the successes even if some fail")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None)
    g.add_argument("--no-progress", dest="progress", action="store_false")

    s = sub.add_parser("convert", help="convert an official checkpoint to an ecgfm directory")
    s.add_argument("kind", choices=["ecgfounder", "st-mem"])
    s.add_argument("src", help="official .pth file")
    s.add_argument("dst", help="output directory")
    s.add_argument("--name", default=None, help="card name (default: the official entry's for "
                   "the released configuration, else derived from the file name)")  # fmt: skip
    s.add_argument("--use-bn", action="store_true", help="ECGFounder: apply the checkpoint's "
                   "BatchNorm layers (only for checkpoints trained with BatchNorm; released "
                   "ECGFounder models have none)")  # fmt: skip
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


_EXIT_BROKEN_PIPE = 128 + getattr(signal, "SIGPIPE", 13)  # what a shell reports for SIGPIPE


def _stdout_to_devnull() -> None:
    """After a broken pipe: send what is still buffered for stdout nowhere, so that the
    interpreter's final flush does not fail again (the recipe of the Python signal docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Error advice is phrased for the command line (:func:`command_line_interface`). A reader
    that closes the pipe early (``ecgfm info NAME | head``) ends the command quietly with
    status 141, as a program killed by SIGPIPE would.
    """
    with command_line_interface():
        try:
            return _run(argv)
        except BrokenPipeError:
            _stdout_to_devnull()
            return _EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help/--version (0) and usage errors (2)
        sys.stdout.flush()
        return int(exc.code or 0)
    try:
        code = _COMMANDS[args.command](args, sys.stdout)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler of main
        return code
    except _CliError as err:
        print(f"ecgfm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
