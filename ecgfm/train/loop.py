"""The optimisation loop shared by the reference training scripts in ``examples/``.

A script builds its data, model and a ``compute_loss(model, step)`` function; :func:`fit` does
the rest, identically for every method:

- AdamW (weight decay on matrices and convolution kernels only, not on biases, norms and
  embeddings vectors), :class:`~ecgfm.train.schedule.WarmupCosine` schedule;
- mixed precision: ``precision="bf16"`` runs ``compute_loss`` under ``torch.autocast`` with
  bfloat16 (CPU or CUDA), ``"fp16"`` uses float16 with a gradient scaler (CUDA only), ``"fp32"``
  none;
- gradient clipping by global norm;
- DDP: the model is wrapped with :func:`~ecgfm.train.ddp.wrap_ddp` when the script runs
  under ``torchrun``; ``compute_loss`` receives the wrapped model;
- checkpoints every ``save_every`` steps and at the end (atomic, rank 0), automatic resume from
  ``<out_dir>/checkpoint.pt``;
- at the end, the trained encoder as a model directory ``<out_dir>/encoder/``
  (:class:`~ecgfm.train.export.EncoderExport`, written by :func:`ecgfm.save_pretrained`;
  ``ecgfm.from_pretrained("<out_dir>/encoder")`` loads it) and ``warm_start.safetensors``;
- JSON-lines log (``<out_dir>/log.jsonl`` and stdout, rank 0): step, loss, learning rate,
  gradient norm, ECGs/s, ECGs seen, wall-clock, and the validation metrics of ``evaluate``
  every ``val_every`` steps.

Resumption is exact when the script draws every random number of step ``s`` from generators
seeded by ``(seed, s, rank)`` (:func:`~ecgfm.train.sampler.step_generator`) and takes its batch
from a :class:`~ecgfm.train.sampler.StepSampler`: training 4 steps straight and 2 + 2 with a
restart in between gives bit-identical weights on CPU.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from ecgfm._deprecated import warn_deprecated
from ecgfm.hub._io import storage_dtype_name
from ecgfm.train.checkpoint import (
    WARM_START_NAME,
    export_warm_start,
    load_checkpoint,
    save_checkpoint,
    warm_start,
    write_encoder_file,
)
from ecgfm.train.ddp import DistInfo, all_reduce_mean, barrier, unwrap, wrap_ddp
from ecgfm.train.export import EncoderExport, training_info
from ecgfm.train.schedule import WarmupCosine

__all__ = ["JsonlLogger", "TrainConfig", "autocast", "fit", "param_groups"]

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
_PRECISIONS = ("fp32", "bf16", "fp16")

LossFn = Callable[[nn.Module, int], tuple[torch.Tensor, Mapping[str, float], int]]
EvalFn = Callable[[nn.Module], Mapping[str, float]]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of :func:`fit` (the scripts fill it from their CLI flags).

    Attributes:
        out_dir: run directory (checkpoint, log, exported encoder directory).
        steps: total optimiser steps.
        lr: peak learning rate; weight_decay, betas, eps: AdamW.
        warmup_steps: linear warm-up; min_lr_ratio: cosine floor / peak.
        clip_grad: max global gradient norm (0: no clipping, the norm is still logged).
        precision: ``"fp32"``, ``"bf16"`` (autocast) or ``"fp16"`` (autocast + scaler, CUDA).
        log_every, val_every, save_every: intervals in steps (0: only at the last step; the
            last step always logs, validates and saves).
        resume: ``"auto"`` (resume from ``out_dir/checkpoint.pt`` if present), ``"none"``, or
            a checkpoint path.
        init: warm start of a new run (ignored when a checkpoint is resumed): a
            ``warm_start.safetensors`` written at the end of an earlier run (every trainable
            weight) or an encoder (registered name, directory, exported file; the rest starts
            fresh). See :func:`ecgfm.train.checkpoint.warm_start`.
    """

    out_dir: str
    steps: int
    lr: float = 1e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    clip_grad: float = 1.0
    precision: str = "fp32"
    log_every: int = 10
    val_every: int = 0
    save_every: int = 0
    resume: str = "auto"
    init: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0 or self.clip_grad < 0:
            raise ValueError("weight_decay and clip_grad must be >= 0")
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {_PRECISIONS}, got {self.precision!r}")
        for name in ("log_every", "val_every", "save_every", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.log_every == 0:
            raise ValueError("log_every must be >= 1")
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) exceeds steps ({self.steps})")


class JsonlLogger:
    """Append JSON records to a file (one per line, flushed) and echo them to a stream."""

    def __init__(
        self, path: str | Path | None, *, echo: TextIO | None = sys.stdout, enabled: bool = True
    ) -> None:
        self.enabled = enabled
        self.echo = echo
        self._file = None
        if enabled and path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115  (closed in close())

    def log(self, record: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(dict(record), default=_jsonable)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        if self.echo is not None:
            print(line, file=self.echo, flush=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` on ``device`` (a no-op context for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs CUDA; use bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters split into decayed (``ndim >= 2``) and not decayed (biases, norms,
    embedding vectors such as ST-MEM's SEP token)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    if not decay and not no_decay:
        raise ValueError("the model has no trainable parameter")
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _due(step: int, every: int, last: bool) -> bool:
    """The last step, or every ``every`` steps (``every = 0``: only the last)."""
    return last or (every > 0 and step % every == 0)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def fit(
    model: nn.Module,
    compute_loss: LossFn,
    config: TrainConfig,
    info: DistInfo,
    *,
    evaluate: EvalFn | None = None,
    export: EncoderExport | tuple[nn.Module, str] | None = None,
    export_dtype: str = "float32",
    exclude_prefixes: Iterable[str] = (),
    run_args: Mapping[str, Any] | None = None,
    params: Iterable[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``config.steps`` optimiser steps (see the module docstring).

    Args:
        model: the bare model on ``info.device`` (all trainable parts, including any
            learnable loss parameters, must be inside it so DDP synchronises them).
        compute_loss: ``(model, step) -> (loss, logs, n_ecg)``: the scalar loss of this rank's
            batch of step ``step`` (``model`` is the DDP-wrapped model under torchrun), extra
            floats to log, and the number of ECG records in this rank's batch.
        config: optimisation settings.
        info: from :func:`~ecgfm.train.ddp.init_distributed`.
        evaluate: ``bare_model -> metrics``, run on rank 0 in eval mode without gradients.
        export: an :class:`~ecgfm.train.export.EncoderExport`: at the end (rank 0) its encoder
            is written to ``<out_dir>/<export.directory>/`` (default ``encoder/``) by
            :func:`ecgfm.save_pretrained`, with a card carrying the run's provenance; it is
            checked when ``fit`` starts. The form ``(encoder, filename)``, a bare
            ``.safetensors`` file in ``out_dir``, is deprecated.
        export_dtype: storage dtype of the exported weights (``"float32"``, ``"bfloat16"``,
            ``"float16"``). Every run also writes ``warm_start.safetensors`` (all trainable
            weights in bf16, no optimiser state) for ``config.init`` of a later run.
        exclude_prefixes: state-dict prefixes left out of checkpoints (a frozen teacher).
        run_args: the run's arguments, stored in the checkpoint and the log.
        params: optimiser parameter groups (default :func:`param_groups`).

    Returns:
        A summary dict (steps, ECGs seen, wall-clock, last loss, last validation metrics).
    """
    export_dtype = storage_dtype_name(export_dtype, argument="export_dtype")
    if isinstance(export, tuple):
        warn_deprecated(
            "fit(..., export=(encoder, filename))",
            "fit(..., export=EncoderExport(encoder, preset=...)) (ecgfm.train.export), which "
            "writes <out_dir>/encoder/, a directory that ecgfm.from_pretrained loads",
        )
        if len(export) != 2 or getattr(unwrap(export[0]), "arch_name", None) is None:
            raise ValueError(
                "export=(encoder, filename) needs an encoder built by ecgfm.models.create_model "
                "(it records arch_name); pass export=EncoderExport(encoder, preset=...)"
            )
    elif isinstance(export, EncoderExport):
        export.check(config.out_dir)
    elif export is not None:
        raise TypeError(
            "export must be an ecgfm.train.export.EncoderExport (e.g. "
            f"EncoderExport(method.encoder, preset=method.preset)) or None, got "
            f"{type(export).__name__}"
        )
    run = _Run(model, config, info, params, run_args or {}, tuple(exclude_prefixes))
    try:
        run.resume()
        if run.resumed_from is None and config.init:
            encoder = export.encoder if isinstance(export, EncoderExport) else export and export[0]
            target = unwrap(encoder) if encoder is not None else None
            note = warm_start(model, target, config.init, exclude_prefixes=run.exclude_prefixes)
            logger.info(note)
            run.warm_started = note
        return run.train(compute_loss, evaluate, export, export_dtype)
    finally:
        run.log.close()


class _Run:
    """State of one :func:`fit` call: optimiser, schedule, counters, log, checkpoint path."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        info: DistInfo,
        params: Iterable[dict[str, Any]] | None,
        run_args: Mapping[str, Any],
        exclude_prefixes: tuple[str, ...],
    ) -> None:
        self.model, self.config, self.info = model, config, info
        self.run_args, self.exclude_prefixes = dict(run_args), exclude_prefixes
        self.out = Path(config.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt_path = self.out / CHECKPOINT_NAME
        self.log = JsonlLogger(self.out / LOG_NAME, enabled=info.is_main)
        groups = list(params) if params is not None else param_groups(model, config.weight_decay)
        self.trainable = [p for g in groups for p in g["params"]]
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)
        self.scheduler = WarmupCosine(
            self.optimizer, config.warmup_steps, config.steps, config.min_lr_ratio
        )
        fp16 = config.precision == "fp16"
        self.scaler = torch.amp.GradScaler(info.device.type) if fp16 else None
        self.step = 0
        self.counters = {"ecg_seen": 0.0, "wall_s": 0.0}
        self.resumed_from: Path | None = None
        self.warm_started: str | None = None

    def resume(self) -> None:
        """Load the checkpoint chosen by ``config.resume``, if any."""
        resume = self.config.resume
        if resume == "auto":
            path = self.ckpt_path if self.ckpt_path.is_file() else None
        else:
            path = None if resume == "none" else Path(resume)
        if path is None:
            return
        payload = load_checkpoint(
            path, model=self.model, optimizer=self.optimizer, scaler=self.scaler
        )
        self.step = int(payload["step"])
        self.counters.update(payload["counters"])
        _warn_changed_args(payload.get("args", {}), self.run_args)
        # The schedule is a closed form of the step: recompute it from the current flags (an
        # exact continuation when they are unchanged; a longer --steps extends the cosine).
        self.scheduler.jump_to(self.step)
        self.resumed_from = path

    def _optimizer_step(self, loss: torch.Tensor) -> tuple[float, float]:
        """Backward, clip, step; returns ``(grad_norm, lr used)``."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        max_norm = self.config.clip_grad if self.config.clip_grad > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, max_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        return float(grad_norm), lr

    def _validate(self, evaluate: EvalFn) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.info.is_main:
            with (
                _eval_mode(self.model),
                torch.no_grad(),
                autocast(self.info.device, self.config.precision),
            ):
                metrics = {k: float(v) for k, v in evaluate(self.model).items()}
            self.log.log(
                {
                    "step": self.step,
                    "ecg_seen": int(self.counters["ecg_seen"]),
                    **{f"val/{k}": v for k, v in metrics.items()},
                }
            )
        barrier()
        return metrics

    def _save(self) -> None:
        if self.info.is_main:
            save_checkpoint(
                self.ckpt_path,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                scaler=self.scaler,
                step=self.step,
                counters=self.counters,
                args=self.run_args,
                exclude_prefixes=self.exclude_prefixes,
            )
        barrier()

    def _export(self, export: EncoderExport | tuple[nn.Module, str], dtype: str) -> Path:
        """Write the trained encoder (rank 0); returns the directory (or deprecated file)."""
        steps, ecg_seen, wall_s = self.step, int(self.counters["ecg_seen"]), self.counters["wall_s"]
        if isinstance(export, tuple):
            encoder, filename = export
            meta = {"steps": steps, "ecg_seen": ecg_seen, "wall_s": round(wall_s, 1),
                    "run_args": self.run_args}  # fmt: skip
            return write_encoder_file(unwrap(encoder), self.out / filename, dtype=dtype,
                                      metadata=meta)  # fmt: skip
        training = training_info(
            steps=steps,
            ecg_seen=ecg_seen,
            wall_s=wall_s,
            world_size=self.info.world_size,
            device=self.info.device,
            precision=self.config.precision,
            run_args=self.run_args,
        )
        path = export.save(self.out, training, dtype)
        logger.info("trained encoder saved to %s (ecgfm.from_pretrained(%r))", path, str(path))
        return path

    def train(
        self,
        compute_loss: LossFn,
        evaluate: EvalFn | None,
        export: EncoderExport | tuple[nn.Module, str] | None,
        export_dtype: str,
    ) -> dict[str, Any]:
        cfg, info, counters = self.config, self.info, self.counters
        ddp = wrap_ddp(self.model, info)
        self.log.log(
            {
                "event": "resume" if self.resumed_from else "start",
                "step": self.step,
                "init": self.warm_started,
                "args": self.run_args,
                "config": asdict(cfg),
                "world_size": info.world_size,
                "device": str(info.device),
                "trainable_params": sum(p.numel() for p in self.trainable),
            }
        )
        if self.step >= cfg.steps:
            logger.warning("checkpoint at step %d >= steps %d: nothing to do", self.step, cfg.steps)
        self.model.train()
        summary: dict[str, Any] = {"val": {}}
        clock, window_ecg, window_time = time.monotonic(), 0, 0.0
        loss_value = float("nan")
        while self.step < cfg.steps:
            t0 = time.monotonic()
            with autocast(info.device, cfg.precision):
                loss, extra, n_ecg = compute_loss(ddp, self.step)
            if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                raise TypeError(
                    "compute_loss must return (scalar loss tensor, logs, n_ecg), got a loss of "
                    f"{getattr(loss, 'shape', type(loss).__name__)}"
                )
            if isinstance(n_ecg, bool) or not isinstance(n_ecg, int) or n_ecg < 0:
                raise TypeError(f"compute_loss must return the batch's ECG count, got {n_ecg!r}")
            if not bool(torch.isfinite(loss.detach())):
                raise FloatingPointError(
                    f"loss is {float(loss.detach())} at step {self.step}; lower the learning "
                    "rate, use fp32, or check the data (the last checkpoint is untouched)"
                )
            grad_norm, lr = self._optimizer_step(loss)
            self.step += 1
            last = self.step == cfg.steps
            counters["ecg_seen"] += n_ecg * info.world_size
            window_ecg += n_ecg * info.world_size
            window_time += time.monotonic() - t0
            if _due(self.step, cfg.log_every, last):
                loss_value = all_reduce_mean(loss.detach(), info.device)
                record = {
                    "step": self.step,
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": grad_norm,
                    "ecg_per_s": window_ecg / max(window_time, 1e-9),
                    "ecg_seen": int(counters["ecg_seen"]),
                    "wall_s": counters["wall_s"] + time.monotonic() - clock,
                }
                record.update({k: all_reduce_mean(v, info.device) for k, v in extra.items()})
                self.log.log(record)
                window_ecg, window_time = 0, 0.0
            if evaluate is not None and _due(self.step, cfg.val_every, last):
                summary["val"] = self._validate(evaluate)
            if _due(self.step, cfg.save_every, last):
                now = time.monotonic()
                counters["wall_s"] += now - clock
                clock = now
                self._save()
        counters["wall_s"] += time.monotonic() - clock
        if export is not None and info.is_main:
            summary["export"] = str(self._export(export, export_dtype))
        if info.is_main:
            warm = export_warm_start(
                self.model,
                self.out / WARM_START_NAME,
                exclude_prefixes=self.exclude_prefixes,
                metadata={"steps": self.step, "run_args": self.run_args},
            )
            summary["warm_start"] = str(warm)
        summary.update(
            {
                "event": "end",
                "step": self.step,
                "ecg_seen": int(counters["ecg_seen"]),
                "wall_s": counters["wall_s"],
                "loss": loss_value,
            }
        )
        self.log.log({k: v for k, v in summary.items() if k != "val"})
        return summary


def _warn_changed_args(saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    ignore = {"resume", "save_every", "val_every", "log_every"}
    changed = sorted(
        k
        for k in set(saved) | set(current)
        if k not in ignore
        and json.dumps(saved.get(k), default=str) != json.dumps(current.get(k), default=str)
    )
    if changed:
        logger.warning(
            "resuming with different arguments %s than the checkpoint was written with; the "
            "run is no longer an exact continuation",
            changed,
        )
