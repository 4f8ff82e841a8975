"""``ecgfm probe``: evaluate a pretrained encoder (or random weights) on a task, with baselines.

::

    ecgfm probe NAME --task cinc2017|ptbxl-superclass|ptbxl-mi --data-root DIR
                [--leads I|12|I,II,...] [--probe linear,logistic,logistic-cv]
                [--baselines random,supervised,openecg,rr|none] [--limit N] [--json out.json]

``NAME`` is anything :func:`ecgfm.from_pretrained` accepts, or ``random:<arch>`` (an
architecture of :func:`ecgfm.models.list_models` with seeded random weights and its family's
preset). By default the random-weight baseline of the same architecture is evaluated next to a
pretrained entry; ``--baselines`` also takes ``supervised`` (a model trained from scratch,
``--supervised-arch``, default ``net1d_small``), ``openecg`` (the frozen encoder of the PyPI
package ``openecg``, :mod:`ecgfm.eval.baseline_openecg`) and ``rr`` (RR-interval / HRV
features from NeuroKit2 R-peaks, :mod:`ecgfm.eval.rr_features`); the last two need optional
packages that ecgfm does not depend on (``pip install openecg`` / ``pip install neurokit2``).
Every baseline is also compared with the entry on the same records by a paired bootstrap
(:mod:`ecgfm.eval.compare`). Exit status: 0 success, 2 usage, loading or data error, or a
missing optional package (printed without a traceback).

Only ``argparse`` is imported at module level so that ``ecgfm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_probe_parser", "run_probe"]

_TASKS = ("cinc2017", "ptbxl-superclass", "ptbxl-mi")
_PROBES = ("linear", "logistic", "logistic-cv")
_BASELINES = ("random", "supervised", "openecg", "rr")
# Optional packages of the external baselines: (module, pip name).
_OPTIONAL = {"openecg": ("openecg", "openecg"), "rr": ("neurokit2", "neurokit2")}


class _HelpFormatter(argparse.HelpFormatter):
    """Wrap help lines between words only (keeps ``logistic-cv`` whole)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def add_probe_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``probe`` sub-command to an ``argparse`` sub-parser collection."""
    s = subparsers.add_parser(
        "probe",
        help="linear/logistic probes of an encoder on a task, next to baselines",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=_HelpFormatter,
    )
    s.add_argument("name", help="registered name, model directory, hf-hub:owner/repo, random:ARCH")
    s.add_argument(
        "--task", required=True, choices=_TASKS, metavar="TASK",
        help=f"evaluation task, one of: {', '.join(_TASKS)}",
    )  # fmt: skip
    s.add_argument("--data-root", required=True, help="CinC 2017 training folder / PTB-XL folder")
    s.add_argument("--leads", default=None, help="PTB-XL leads: I (default: the model's), 12, ...")
    s.add_argument(
        "--probe", default=",".join(_PROBES), metavar="PROBES",
        help=f"comma-separated subset of: {', '.join(_PROBES)} (default: all three)",
    )  # fmt: skip
    s.add_argument(
        "--baselines", default="random", metavar="BASELINES",
        help=f"comma-separated subset of: {', '.join(_BASELINES)}; or none (default: random). "
        "openecg and rr need optional packages: pip install openecg / pip install neurokit2",
    )  # fmt: skip
    s.add_argument(
        "--versus", default=None, metavar="NAMES",
        help="comma-separated other encoders (registered names, model directories) probed on "
        "the same records, each with its own preset, and compared with the entry (paired)",
    )  # fmt: skip
    s.add_argument("--seed", type=int, default=0, help="random-weight init and probe seed")
    s.add_argument(
        "--arch-arg", action="append", default=[], metavar="KEY=VALUE",
        help="architecture override for random:ARCH (JSON value), e.g. in_channels=1",
    )  # fmt: skip
    s.add_argument("--C", type=float, default=0.1, help="logistic-regression inverse L2 strength")
    s.add_argument("--folds", type=int, default=5, help="folds of the logistic-cv probe")
    s.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    s.add_argument("--limit", type=int, default=None, help="records per split (quick runs)")
    s.add_argument("--allow-missing", action="store_true", help="CinC: evaluate a partial split")
    s.add_argument("--split-file", default=None, help="CinC: own record split (JSON)")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--precision", default=None, choices=["fp32", "bf16"])
    s.add_argument("--compile", action="store_true", help="torch.compile the encoder forward")
    s.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default cpu)")
    s.add_argument("--checkpoint-path", default=None, help="weights file for user-file entries")
    s.add_argument("--cache-dir", default=None, help="embedding cache (default ~/.cache/ecgfm)")
    s.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    s.add_argument("--supervised-arch", default="net1d_small")
    s.add_argument("--supervised-epochs", type=int, default=20)
    s.add_argument("--supervised-crop-seconds", type=float, default=None)
    s.add_argument("--supervised-max-minutes", type=float, default=None)
    s.add_argument("--json", default=None, help="write every report to this JSON file")
    s.add_argument("--progress", action="store_true", help="progress while reading/embedding")
    return s


class _UsageError(Exception):
    pass


def _split_list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        extra = "; or none" if what == "--baselines" else ""
        raise _UsageError(
            f"{what} must be a comma-separated subset of: {', '.join(allowed)}{extra}; got "
            f"{text!r}" + (f" (unknown: {', '.join(bad)})" if bad else "")
        )
    return items


def _split_names(text: str | None) -> list[str]:
    """Names of ``--versus`` (empty entries refused)."""
    if text is None:
        return []
    names = [t.strip() for t in text.split(",")]
    if not all(names):
        raise _UsageError(f"--versus: empty name in {text!r}; give names separated by commas")
    return names


def _arch_args(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _UsageError(f"--arch-arg must be KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _load_model(args: argparse.Namespace) -> tuple[Any, Any, str, str, dict[str, Any]]:
    """-> (model, preset, label, arch, arch_args)."""
    from ecgfm.eval.baselines import preset_for_arch, random_encoder

    if args.name.startswith("random:"):
        arch = args.name.split(":", 1)[1]
        overrides = _arch_args(args.arch_arg)
        model = random_encoder(arch, seed=args.seed, device=args.device, **overrides)
        leads = getattr(model, "in_leads", None)
        extra = "".join(f" {k}={v}" for k, v in overrides.items())
        label = f"random:{arch}{extra} seed {args.seed}"
        return model, preset_for_arch(arch, leads), label, arch, overrides
    if args.arch_arg:
        raise _UsageError("--arch-arg applies to random:ARCH only")
    from ecgfm.hub import from_pretrained

    enc = from_pretrained(args.name, device=args.device, checkpoint_path=args.checkpoint_path)
    return enc, enc.preset, args.name, enc.arch_name, enc.arch_args


def _require_optional(baselines: list[str]) -> None:
    """Fail before any slow step when an external baseline's package is missing."""
    import importlib.util

    for name in baselines:
        if name in _OPTIONAL and importlib.util.find_spec(_OPTIONAL[name][0]) is None:
            module, pip_name = _OPTIONAL[name]
            raise _UsageError(
                f"--baselines {name} needs the optional package {module}, which is not "
                f"installed (ecgfm does not depend on it): pip install {pip_name}, or drop "
                f"{name} from --baselines"
            )


# A candidate: (label, thunk) where thunk() -> (record features (R, D), details, notes).
_Candidate = tuple[str, Callable[[], tuple[Any, dict[str, Any], list[str]]]]


def _candidates(
    args: argparse.Namespace,
    baselines: list[str],
    entry: tuple[str, Any, str, dict[str, Any]],
    data: Any,
    embed_kw: dict[str, Any],
) -> list[_Candidate]:
    """The entry and every feature baseline, each computed only when its turn comes."""
    from ecgfm.eval.baselines import random_encoder
    from ecgfm.eval.embed_cache import embed_task

    label, model, arch, arch_args = entry

    def embedded(m: Any, **kw: Any) -> Callable[[], tuple[Any, dict[str, Any], list[str]]]:
        def run() -> tuple[Any, dict[str, Any], list[str]]:
            emb = embed_task(m, data, **{**embed_kw, **kw})
            details = {"embedding_seconds": round(emb.seconds, 1),
                       "embedding_from_cache": emb.from_cache}  # fmt: skip
            return emb, details, []

        return run

    out: list[_Candidate] = [(label, embedded(model))]
    if "random" in baselines and not args.name.startswith("random:"):
        rnd = random_encoder(arch, seed=args.seed, device=args.device, **arch_args)
        out.append((f"random:{arch} seed {args.seed}", embedded(rnd)))
    for other in _split_names(args.versus):
        from ecgfm.hub import from_pretrained

        enc = from_pretrained(other, device=args.device)
        if tuple(enc.preset.leads or ()) != tuple(data.leads):
            raise _UsageError(
                f"--versus {other} takes leads {','.join(enc.preset.leads or ())}, the task was "
                f"loaded with {','.join(data.leads)}: compare encoders of the same leads"
            )
        out.append((other, embedded(enc, preset=enc.preset)))
    if "openecg" in baselines:
        from ecgfm.eval.baseline_openecg import OpenECGEncoder

        if len(data.leads) != 1:
            raise _UsageError(
                f"--baselines openecg is a single-lead encoder; the task has leads "
                f"{','.join(data.leads)}: use --leads I (or drop openecg)"
            )
        enc = OpenECGEncoder(lead=data.leads[0], device=args.device or "cpu")

        def openecg_run() -> tuple[Any, dict[str, Any], list[str]]:
            emb, details, _ = embedded(enc, preset=enc.preset, model_id=enc.model_id)()
            note = (f"{enc.label}: OpenECG's codec (trained on lead II by its authors) fed "
                    f"lead {data.leads[0]}; {enc.details['representation']}")  # fmt: skip
            return emb, {**details, "openecg": enc.details}, [note]

        out.append((enc.label, openecg_run))
    if "rr" in baselines:
        from ecgfm.eval.rr_features import RR_FEATURE_NAMES, record_rr_features

        def rr_run() -> tuple[Any, dict[str, Any], list[str]]:
            rr = record_rr_features(data, progress=args.progress)
            return rr.features, {"rr_features": rr.details()}, [rr.note()]

        n_rr = len(RR_FEATURE_NAMES) - 1  # + the detection_failed flag
        out.append((f"RR/HRV: {n_rr} features of NeuroKit2 R-peaks", rr_run))
    return out


def _run(args: argparse.Namespace) -> int:
    from ecgfm.eval.baselines import SupervisedConfig, supervised_baseline
    from ecgfm.eval.compare import format_paired, paired_comparisons, paired_details
    from ecgfm.eval.task_report import format_reports, probe_task
    from ecgfm.eval.tasks import get_task

    if args.progress and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    probes = _split_list(args.probe, _PROBES, "--probe")
    baselines = [] if args.baselines == "none" else _split_list(
        args.baselines, _BASELINES, "--baselines")  # fmt: skip
    _require_optional(baselines)
    model, preset, label, arch, arch_args = _load_model(args)
    options: dict[str, Any] = {}
    if args.task.startswith("ptbxl"):
        options["leads"] = args.leads or ",".join(preset.leads or ("I",))
    elif args.leads not in (None, "I"):
        raise _UsageError("CinC 2017 has lead I only; drop --leads")
    if args.task == "cinc2017":
        options.update(allow_missing=args.allow_missing, split_file=args.split_file)
    elif args.allow_missing or args.split_file:
        raise _UsageError("--allow-missing and --split-file apply to --task cinc2017 only")
    task = get_task(args.task, **options)
    data = task.load(args.data_root, limit=args.limit, progress=args.progress)
    embed_kw = {
        "preset": preset, "batch_size": args.batch_size, "precision": args.precision,
        "compile": args.compile, "cache": not args.no_cache, "cache_dir": args.cache_dir,
        "progress": args.progress,
    }  # fmt: skip
    candidates = _candidates(args, baselines, (label, model, arch, arch_args), data, embed_kw)
    reports = []
    for who, features in candidates:
        emb, details, notes = features()
        for probe in probes:
            rep = probe_task(
                emb, data, probe, model=who, C=args.C, folds=args.folds, seed=args.seed,
                n_boot=args.n_boot,
            )  # fmt: skip
            rep.details.update(details)
            rep.notes.extend(notes)
            reports.append(rep)
    if "supervised" in baselines:
        cfg = SupervisedConfig(
            arch=args.supervised_arch, epochs=args.supervised_epochs,
            crop_seconds=args.supervised_crop_seconds, precision=args.precision,
            max_minutes=args.supervised_max_minutes, seed=args.seed,
        )  # fmt: skip
        reports.append(supervised_baseline(data, preset, cfg, device=args.device,
                                           n_boot=args.n_boot))  # fmt: skip
    rows = paired_comparisons(reports, label, data, n_boot=args.n_boot, seed=args.seed)
    for i, j, diff in rows:
        reports[j].details["paired_auroc_vs_entry"] = paired_details(reports[i], diff)
    print(format_reports(reports))
    if rows:
        print("\n" + format_paired(rows, reports))
    if args.json:
        out = {
            "arguments": {k: v for k, v in vars(args).items() if k != "func"},
            "task": task.display_name, "model": label, "source": data.source,
            "reports": [r.to_dict() for r in reports],
        }  # fmt: skip
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {path}")
    return 0


def run_probe(args: argparse.Namespace) -> int:
    """Run ``ecgfm probe`` with parsed arguments; return the exit status."""
    try:
        return _run(args)
    except (_UsageError, KeyError, FileNotFoundError, ValueError, TypeError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"ecgfm probe: error: {msg}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m ecgfm.eval.cli_probe NAME --task ...``)."""
    parser = argparse.ArgumentParser(prog="ecgfm")
    add_probe_parser(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["probe", *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as exc:
        return int(exc.code or 0)
    return run_probe(args)


if __name__ == "__main__":
    sys.exit(main())
