"""``ecgfm probe``: evaluate a pretrained encoder (or random weights) on a task, with baselines.

::

    ecgfm probe NAME --task cinc2017|ptbxl-superclass|ptbxl-mi --data-root DIR
                [--leads I|12|I,II,...] [--probe linear,logistic,logistic-cv]
                [--baselines random,supervised|none] [--limit N] [--json out.json] ...

``NAME`` is anything :func:`ecgfm.from_pretrained` accepts, or ``random:<arch>`` (an
architecture of :func:`ecgfm.models.list_models` with seeded random weights and its family's
preset). By default the random-weight baseline of the same architecture is evaluated next to a
pretrained entry; ``--baselines random,supervised`` adds the supervised-from-scratch model
(``--supervised-arch``, default ``net1d_small``). Every baseline is also compared with the entry
on the same records by a paired bootstrap (:mod:`ecgfm.eval.compare`). Exit status: 0 success,
2 usage, loading or data error (printed without a traceback).

Only ``argparse`` is imported at module level so that ``ecgfm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_probe_parser", "run_probe"]

_TASKS = ("cinc2017", "ptbxl-superclass", "ptbxl-mi")
_PROBES = ("linear", "logistic", "logistic-cv")


def add_probe_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``probe`` sub-command to an ``argparse`` sub-parser collection."""
    s = subparsers.add_parser(
        "probe",
        help="linear/logistic probes of an encoder on a task, next to baselines",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    s.add_argument("name", help="registered name, model directory, hf-hub:owner/repo, random:ARCH")
    s.add_argument("--task", required=True, choices=_TASKS)
    s.add_argument("--data-root", required=True, help="CinC 2017 training folder / PTB-XL folder")
    s.add_argument("--leads", default=None, help="PTB-XL leads: I (default: the model's), 12, ...")
    s.add_argument("--probe", default="linear,logistic,logistic-cv", help="comma-separated probes")
    s.add_argument("--baselines", default="random", help="random,supervised or none")
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
        raise _UsageError(f"{what} must be a comma-separated subset of {allowed}, got {text!r}")
    return items


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


def _run(args: argparse.Namespace) -> int:
    from ecgfm.eval.baselines import SupervisedConfig, random_encoder, supervised_baseline
    from ecgfm.eval.compare import format_paired, paired_comparisons, paired_details
    from ecgfm.eval.embed_cache import embed_task
    from ecgfm.eval.task_report import format_reports, probe_task
    from ecgfm.eval.tasks import get_task

    if args.progress and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    probes = _split_list(args.probe, _PROBES, "--probe")
    baselines = [] if args.baselines == "none" else _split_list(
        args.baselines, ("random", "supervised"), "--baselines")  # fmt: skip
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
    candidates = [(label, model)]
    if "random" in baselines and not args.name.startswith("random:"):
        rnd = random_encoder(arch, seed=args.seed, device=args.device, **arch_args)
        candidates.append((f"random:{arch} seed {args.seed}", rnd))
    reports = []
    for who, m in candidates:
        emb = embed_task(m, data, **embed_kw)
        for probe in probes:
            rep = probe_task(
                emb, data, probe, model=who, C=args.C, folds=args.folds, seed=args.seed,
                n_boot=args.n_boot,
            )  # fmt: skip
            rep.details["embedding_seconds"] = round(emb.seconds, 1)
            rep.details["embedding_from_cache"] = emb.from_cache
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
