"""Baselines measured in the same harness as every pretrained entry.

1. **Random weights** (:func:`random_encoder`): the pretrained entry's architecture, built by
   :func:`ecgfm.models.create_model` right after ``torch.manual_seed(seed)`` (inside
   ``torch.random.fork_rng``, so the caller's RNG state is untouched). No ecgfm architecture
   overrides PyTorch's default initialisation, so for Net1D every ``Conv1d``/``Linear`` weight
   is Kaiming-uniform with ``a = sqrt(5)`` (bound ``1/sqrt(fan_in)``) and every bias uniform in
   ``±1/sqrt(fan_in)``. It is probed with the pretrained entry's preset, so the comparison
   isolates what pre-training adds over random convolutional features.
2. **Supervised from scratch** (:func:`train_supervised`): an encoder of ``config.arch`` plus a
   linear head trained end-to-end on the probe's *training* split, early-stopped on the
   validation split's macro ROC-AUC (per record), test scores of the best epoch. The 30 M
   parameter Net1D costs hours per epoch on a CPU, so the architecture, epochs, random crop
   length, bf16 autocast and a wall-time budget are configurable, and a small reference model
   (``net1d_small``, 0.4 M parameters) is the default; the report states what was run.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgfm.eval.metrics import macro_auroc
from ecgfm.eval.task_base import TaskData
from ecgfm.eval.task_report import ProbeReport, score_report
from ecgfm.models import create_model, default_preset
from ecgfm.transforms.presets import Preset, get_preset, list_presets

__all__ = [
    "SupervisedConfig",
    "preset_for_arch",
    "random_encoder",
    "supervised_baseline",
    "train_supervised",
]

logger = logging.getLogger(__name__)


def random_encoder(
    arch: str, *, seed: int = 0, device: torch.device | str | None = None, **overrides: Any
) -> nn.Module:
    """``create_model(arch, **overrides)`` with seeded default initialisation, in ``eval()``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(arch, **overrides)
    if device is not None:
        model = model.to(device)
    return model.eval()


def preset_for_arch(arch: str, leads: Sequence[str] | None = None) -> Preset:
    """The default preset that architecture ``arch`` declares in the model registry
    (:func:`ecgfm.models.default_preset`; Net1D: ``ecgfounder``), restricted to ``leads``
    (default: the preset's leads).

    Raises:
        ValueError: ``arch`` is not a registered architecture (close matches suggested), or
            declares no default preset (pass one explicitly).
    """
    try:
        name = default_preset(arch)
    except KeyError as err:
        raise ValueError(f"no default preset for {arch!r}: {err.args[0]}") from None
    if name is None:
        raise ValueError(
            f"architecture {arch!r} declares no default preset; pass a preset explicitly, e.g. "
            f"embed_task(..., preset=get_preset(...)) with one of {list_presets()}"
        )
    if leads is None:
        return get_preset(name)
    if isinstance(leads, str):
        raise TypeError(f"leads must be a sequence of lead names such as ('I',), got {leads!r}")
    return get_preset(name, leads=tuple(leads))


@dataclass(frozen=True)
class SupervisedConfig:
    """Settings of the supervised-from-scratch baseline.

    Attributes:
        arch: registered architecture (``net1d_small`` by default; ``net1d_ecgfounder_lead1``
            for the pretrained entry's own architecture, very slow on a CPU).
        epochs, patience: at most ``epochs`` passes over the training windows; stop after
            ``patience`` epochs without a better validation macro ROC-AUC.
        lr, weight_decay, batch_size: AdamW with a cosine schedule over all steps.
        crop_seconds: train on random crops of this length (faster; the encoder pools over
            time, so validation/test use the full windows); ``None`` = full windows.
        precision: ``None`` or ``"bf16"`` (autocast for training and evaluation).
        max_minutes: stop after this wall time (the report then says so); ``None`` = no limit.
        seed: initialisation, shuffling and crops.
    """

    arch: str = "net1d_small"
    epochs: int = 20
    patience: int = 5
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    crop_seconds: float | None = None
    precision: str | None = None
    max_minutes: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "patience", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"SupervisedConfig.{name} must be a positive integer, got {v!r}")
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"SupervisedConfig.{name} must be a finite number >= 0")
        if self.crop_seconds is not None and not self.crop_seconds > 0:
            raise ValueError("crop_seconds must be positive or None")
        if self.precision not in (None, "fp32", "bf16"):
            raise ValueError(f"precision must be None, 'fp32' or 'bf16', got {self.precision!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError("max_minutes must be positive or None")


class _Classifier(nn.Module):
    """Encoder + linear head on its pooled embedding: ``(B, C, T) -> (B, K)`` logits."""

    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.num_features), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.forward_embedding(x))


def _prepare_all(data: TaskData, preset: Preset) -> tuple[torch.Tensor, np.ndarray]:
    """All windows ``(W, C, L)`` of the task and the record of each window ``(W,)``."""
    windows, records = [], []
    for start in range(0, data.signals.shape[0], 256):
        stop = min(start + 256, data.signals.shape[0])
        w, item = preset.prepare(data.signals[start:stop], data.fs, data.leads)
        windows.append(w.cpu())
        records.append(data.item_record[start:stop][item.cpu().numpy()])
    return torch.cat(windows), np.concatenate(records)


def _record_probs(
    model: nn.Module, windows: torch.Tensor, win_rec: np.ndarray, records: np.ndarray,
    multilabel: bool, cfg: SupervisedConfig, device: torch.device,
) -> np.ndarray:  # fmt: skip
    """Per-record probabilities ``(len(records), K)``: window probabilities averaged."""
    pos = {r: i for i, r in enumerate(records.tolist())}
    sel = np.flatnonzero(np.isin(win_rec, records))
    model.eval()
    outs = []
    with torch.inference_mode():
        for b in range(0, sel.size, cfg.batch_size):
            xb = windows[sel[b : b + cfg.batch_size]].to(device)
            with _autocast(cfg, device):
                z = model(xb).float()
            outs.append((torch.sigmoid(z) if multilabel else torch.softmax(z, -1)).cpu())
    p = torch.cat(outs).double().numpy()
    sums = np.zeros((len(records), p.shape[1]))
    idx = np.asarray([pos[r] for r in win_rec[sel].tolist()])
    np.add.at(sums, idx, p)
    return sums / np.bincount(idx, minlength=len(records))[:, None]


def _autocast(cfg: SupervisedConfig, device: torch.device) -> Any:
    enabled = cfg.precision == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def train_supervised(
    data: TaskData,
    preset: Preset,
    config: SupervisedConfig | None = None,
    *,
    device: torch.device | str | None = None,
    **arch_overrides: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train ``config.arch`` + a linear head from scratch on the train split (see the module
    docstring). Items (CinC 2017 segments) carry their record's label; validation and test
    scores average the window probabilities of each record.

    Returns:
        ``(test_scores (R_test, K), details)`` with the per-epoch history.
    """
    cfg = config or SupervisedConfig()
    dev = torch.device(device if device is not None else "cpu")
    t0 = time.perf_counter()
    tr, va, te = (data.indices(s) for s in ("train", "val", "test"))
    if min(tr.size, va.size, te.size) == 0:
        raise ValueError("the supervised baseline needs non-empty train, val and test splits")
    windows, win_rec = _prepare_all(data, preset)
    k = len(data.classes)
    if cfg.arch.startswith("net1d") and "in_channels" not in arch_overrides:
        leads = preset.leads or data.leads
        arch_overrides = {**arch_overrides, "in_channels": len(leads), "in_leads": leads}
    encoder = random_encoder(cfg.arch, seed=cfg.seed, **arch_overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = _Classifier(encoder, k).to(dev)
    y_rec = torch.from_numpy(data.labels)
    train_win = np.flatnonzero(np.isin(win_rec, tr))
    length = windows.shape[-1]
    crop = length if cfg.crop_seconds is None else min(length, round(cfg.crop_seconds * preset.fs))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(train_win.size / cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn: nn.Module = nn.BCEWithLogitsLoss() if data.multilabel else nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(cfg.seed)
    y_val = data.label_matrix()[va]
    keep_val = (y_val.sum(0) > 0) & (y_val.sum(0) < va.size)
    if not keep_val.any():
        raise ValueError(
            f"no class has both positive and negative records in the validation split of "
            f"{data.task} ({va.size} records): early stopping is impossible; use more records"
        )
    best: tuple[float, int, dict[str, torch.Tensor] | None] = (-1.0, 0, None)
    history: list[dict[str, float]] = []
    stopped = "epochs"
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.from_numpy(train_win)[torch.randperm(train_win.size, generator=g)]
        total = 0.0
        for b in range(0, perm.numel(), cfg.batch_size):
            idx = perm[b : b + cfg.batch_size]
            xb = windows[idx]
            if crop < length:
                starts = torch.randint(0, length - crop + 1, (idx.numel(),), generator=g)
                xb = torch.stack(
                    [w[:, s : s + crop] for w, s in zip(xb, starts.tolist(), strict=True)]
                )
            target = y_rec[torch.from_numpy(win_rec[idx.numpy()])].to(dev)
            target = target.float() if data.multilabel else target.long()
            with _autocast(cfg, dev):
                loss = loss_fn(model(xb.to(dev)).float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.numel()
        p_val = _record_probs(model, windows, win_rec, va, data.multilabel, cfg, dev)
        val = macro_auroc(y_val[:, keep_val], p_val[:, keep_val])
        minutes = (time.perf_counter() - t0) / 60
        history.append({"epoch": epoch, "train_loss": total / train_win.size, "val_auroc": val,
                        "minutes": round(minutes, 2)})  # fmt: skip
        logger.info("supervised %s epoch %d: loss %.4f val AUROC %.4f (%.1f min)",
                    cfg.arch, epoch, total / train_win.size, val, minutes)  # fmt: skip
        if val > best[0]:
            best = (val, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= cfg.patience:
            stopped = "early stopping"
            break
        if cfg.max_minutes is not None and minutes >= cfg.max_minutes:
            stopped = f"time budget ({cfg.max_minutes:g} min)"
            break
    assert best[2] is not None
    model.load_state_dict(best[2])
    test = _record_probs(model, windows, win_rec, te, data.multilabel, cfg, dev)
    n_params = sum(p.numel() for p in model.parameters())
    details = {
        **asdict(cfg), "best_epoch": best[1], "val_auroc": best[0], "stopped_by": stopped,
        "epochs_run": len(history), "parameters": n_params, "crop_samples": crop,
        "minutes": round((time.perf_counter() - t0) / 60, 2), "history": history,
    }  # fmt: skip
    return test, details


def supervised_baseline(
    data: TaskData,
    preset: Preset,
    config: SupervisedConfig | None = None,
    *,
    device: torch.device | str | None = None,
    n_boot: int = 1000,
    **arch_overrides: Any,
) -> ProbeReport:
    """:func:`train_supervised` scored like every probe (test split, bootstrap CIs)."""
    cfg = config or SupervisedConfig()
    scores, details = train_supervised(data, preset, cfg, device=device, **arch_overrides)
    te = data.indices("test")
    report = score_report(
        data, te, scores, model=f"supervised {cfg.arch} from scratch", probe="supervised",
        evaluated_on=f"test split, {te.size} records", n_boot=n_boot, seed=cfg.seed,
        details=details,
    )  # fmt: skip
    report.notes.append(
        f"supervised baseline: {cfg.arch} ({details['parameters']:,} parameters) trained "
        f"{details['epochs_run']} epochs, stopped by {details['stopped_by']}, best epoch "
        f"{details['best_epoch']}"
    )
    return report
