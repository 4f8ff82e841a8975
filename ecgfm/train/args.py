"""Command-line flags shared by the training scripts, and the setup they imply.

Every script in ``examples/`` calls :func:`add_train_args` and :func:`add_data_args`, adds its
own method flags, then :func:`setup` (logging, process group, seeds) and :func:`load_data`.
See ``docs/training.md`` for the flags.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import numpy as np
import torch

from ecgfm.train.ddp import DistInfo, barrier, init_distributed
from ecgfm.train.loop import TrainConfig
from ecgfm.train.pretrain_data import DEFAULT_PRETRAIN_FOLDS, DataSources, PretrainData
from ecgfm.transforms.presets import Preset

logger = logging.getLogger(__name__)

__all__ = [
    "add_data_args",
    "add_train_args",
    "data_sources",
    "json_dict",
    "load_data",
    "run_record",
    "setup",
    "train_config",
]


def json_dict(text: str) -> dict[str, Any]:
    """argparse type: a JSON object, e.g. ``'{"depth": 2}'``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}, got {text!r}")
    return value


def _folds(text: str) -> tuple[int, ...]:
    try:
        folds = tuple(int(f) for f in text.split(",") if f.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"folds must be comma-separated ints: {text!r}") from None
    if not folds or any(not 1 <= f <= 10 for f in folds):
        raise argparse.ArgumentTypeError(f"folds must be in 1-10, got {text!r}")
    return folds


def add_train_args(
    parser: argparse.ArgumentParser,
    *,
    lr: float | None,
    weight_decay: float,
    batch_size: int,
    betas: tuple[float, float] = (0.9, 0.999),
    steps: int = 1000,
) -> None:
    """Optimisation, precision, logging and checkpoint flags (defaults per method)."""
    g = parser.add_argument_group("optimisation")
    g.add_argument("--out", required=True, help="run directory (checkpoint, log, export)")
    g.add_argument("--steps", type=int, default=steps, help="total optimiser steps")
    g.add_argument("--batch-size", type=int, default=batch_size, help="records per rank per step")
    g.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    g.add_argument("--weight-decay", type=float, default=weight_decay)
    g.add_argument("--betas", type=float, nargs=2, default=list(betas), metavar=("B1", "B2"))
    g.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up steps")
    g.add_argument("--min-lr-ratio", type=float, default=0.0, help="cosine floor / peak lr")
    g.add_argument("--clip-grad", type=float, default=1.0, help="max grad norm (0: off)")
    g.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        default="fp32",
        help="bf16: autocast on CPU/CUDA; fp16: autocast + grad scaler (CUDA)",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    g.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per process (torch.set_num_threads; default: torch's)",
    )
    g.add_argument("--log-every", type=int, default=10)
    g.add_argument("--val-every", type=int, default=100, help="0: validate at the end only")
    g.add_argument("--save-every", type=int, default=500, help="0: save at the end only")
    g.add_argument("--resume", default="auto", help="auto | none | path to a checkpoint")
    g.add_argument(
        "--init",
        default=None,
        help="warm start a new run: warm_start.safetensors of an earlier run (all weights) or "
        "an encoder (registered name, directory, exported .safetensors; the rest starts fresh)",
    )
    g.add_argument(
        "--export-dtype",
        choices=("float32", "bfloat16", "float16"),
        default="float32",
        help="storage dtype of the exported encoder",
    )


def add_data_args(parser: argparse.ArgumentParser, *, val_records: int = 128) -> None:
    """Pre-training data flags (PTB-XL folds, synthetic records, held-aside set, cache)."""
    g = parser.add_argument_group("data")
    g.add_argument("--ptbxl-root", default=None, help="PTB-XL folder (e.g. ../shared/data/ptbxl)")
    g.add_argument(
        "--folds",
        type=_folds,
        default=DEFAULT_PRETRAIN_FOLDS,
        help="PTB-XL strat folds for pre-training, comma-separated (default 1-7)",
    )
    g.add_argument(
        "--ptbxl-fs",
        type=int,
        choices=(100, 500),
        default=100,
        help="read the 100 Hz (every record) or 500 Hz copy of PTB-XL",
    )
    g.add_argument("--max-ptbxl", type=int, default=None, help="use the first N PTB-XL records")
    g.add_argument("--synthetic", type=int, default=0, help="number of deepfake-ecg records")
    g.add_argument("--synthetic-seed", type=int, default=0)
    g.add_argument(
        "--val-records",
        type=int,
        default=val_records,
        help="held-aside validation records (last PTB-XL patients)",
    )
    g.add_argument("--cache-dir", default=None, help="default $ECGFM_CACHE or ~/.cache/ecgfm")
    g.add_argument("--no-cache", action="store_true", help="preprocess in memory, no cache")
    g.add_argument("--cache-dtype", choices=("float32", "float16"), default="float32")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`~ecgfm.train.loop.TrainConfig` of the parsed flags."""
    return TrainConfig(
        out_dir=args.out,
        steps=args.steps,
        lr=args.lr,
        weight_decay=args.weight_decay,
        betas=(float(args.betas[0]), float(args.betas[1])),
        warmup_steps=args.warmup_steps,
        min_lr_ratio=args.min_lr_ratio,
        clip_grad=args.clip_grad,
        precision=args.precision,
        log_every=args.log_every,
        val_every=args.val_every,
        save_every=args.save_every,
        resume=args.resume,
        init=args.init,
    )


def data_sources(args: argparse.Namespace) -> DataSources:
    """The :class:`~ecgfm.train.pretrain_data.DataSources` of the parsed flags."""
    return DataSources(
        ptbxl_root=args.ptbxl_root,
        folds=tuple(args.folds),
        ptbxl_fs=args.ptbxl_fs,
        max_ptbxl=args.max_ptbxl,
        synthetic=args.synthetic,
        synthetic_seed=args.synthetic_seed,
    )


def setup(args: argparse.Namespace) -> DistInfo:
    """Logging (INFO on rank 0, WARNING elsewhere), process group, threads, global seeds."""
    info = init_distributed(None if args.device == "auto" else args.device)
    logging.basicConfig(
        level=logging.INFO if info.is_main else logging.WARNING,
        format=f"%(asctime)s [rank {info.rank}] %(name)s: %(message)s",
    )
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # model initialisation: identical on every rank
    return info


def load_data(
    args: argparse.Namespace, preset: Preset, info: DistInfo
) -> tuple[PretrainData, np.ndarray, np.ndarray]:
    """``(data, train_indices, val_indices)``: :meth:`PretrainData.build` on rank 0 first (it
    writes the cache), then on the other ranks; the held-aside split of ``--val-records``."""
    kwargs = {
        "cache_dir": args.cache_dir,
        "use_cache": not args.no_cache,
        "storage_dtype": args.cache_dtype,
    }
    data = PretrainData.build(data_sources(args), preset, **kwargs) if info.is_main else None
    barrier()
    if data is None:
        data = PretrainData.build(data_sources(args), preset, **kwargs)
    train_idx, val_idx = data.holdout(args.val_records)
    logger.info(
        "pre-training records %s: %d for training, %d held aside for validation",
        data.counts(),
        len(train_idx),
        len(val_idx),
    )
    return data, train_idx, val_idx


def run_record(
    args: argparse.Namespace, data: PretrainData, train_idx: np.ndarray, val_idx: np.ndarray
) -> dict[str, Any]:
    """The flags plus what the data turned out to be (logged and stored in checkpoints)."""
    return {
        **vars(args),
        "data": data.counts(),
        "train_records": len(train_idx),
        "val_records_used": len(val_idx),
        "data_cache": data.cache_key,
    }
