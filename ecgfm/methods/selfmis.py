"""SelfMIS: align a single-lead student with a frozen 12-lead teacher (SigLIP), assembled.

- preset ``selfmis``: 500 Hz, 10 s (5000 samples), ECGFounder filtering, z-scored; the
  teacher sees the whole 12-lead window;
- encoders: a trainable single-lead student (default ``net1d_ecgfounder_lead1``, random or
  from weights) and a frozen 12-lead teacher of the same family (stop-gradient: no
  ``requires_grad``, ``no_grad``, always in eval mode), paired in
  :class:`~ecgfm.models.selfmis.SelfMIS` with its projection heads;
- views: self-cutting, :class:`~ecgfm.transforms.views.SelfCut` (the student's lead of the
  same record, no other augmentation), optionally a random crop of the student's view (a
  deviation that cuts compute);
- loss: :class:`~ecgfm.losses.SigLIPLoss` with the paper's fixed logit scale 1/0.07 and bias
  0, optionally plus a patient-level contrast of the student on single-lead recordings
  (CLOCS CMSC, :class:`~ecgfm.losses.PatientContrastiveLoss`; not in the SelfMIS paper) and
  an RR distillation (a linear head predicts 21 standardised RR / heart-rate-variability
  features of single-lead windows, :mod:`ecgfm.train.rr_targets`, with
  :class:`~ecgfm.losses.FeatureRegressionLoss`; not in the paper either);
- objective: :class:`~ecgfm.train.objectives.SelfMISObjective`.

The teacher is frozen and sees un-augmented records, so its embeddings can be computed once
(:func:`ecgfm.train.teacher_cache.teacher_embeddings` of :attr:`SelfMISMethod.teacher`) and
passed to :meth:`SelfMISMethod.training_loss` as ``teacher_emb``: a step then runs the student
only. The exported model is :attr:`SelfMISMethod.encoder`, the student alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgfm.losses.feature_regression import FeatureRegressionLoss
from ecgfm.losses.patient_contrastive import PatientContrastiveLoss
from ecgfm.losses.siglip import SELFMIS_TEMPERATURE, SigLIPLoss
from ecgfm.models.selfmis import SelfMIS
from ecgfm.train.ddp import barrier
from ecgfm.train.encoders import build_encoder
from ecgfm.train.objectives import SelfMISObjective
from ecgfm.train.pretrain_data import PretrainData
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.train.rr_targets import RR_TARGET_NAMES, RRTargets
from ecgfm.train.single_lead import SingleLeadRecords
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.presets import Preset, get_preset
from ecgfm.transforms.views import SelfCut

__all__ = ["SelfMISMethod"]

logger = logging.getLogger(__name__)


def _check_number(name: str, value: object, *, minimum: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return float(value)


class SelfMISMethod:
    """SelfMIS pre-training: lead-I student aligned to a frozen 12-lead teacher (SigLIP).

    Named ``SelfMISMethod`` so as not to clash with the :class:`~ecgfm.models.selfmis.SelfMIS`
    student/teacher pair it builds.

    Args:
        model: registered architecture of the student (``net1d_ecgfounder_lead1``); it must
            take one lead, derivable from the teacher's leads.
        model_args: student architecture overrides (e.g. ``{"in_channels": 1}``).
        model_init: weights the student starts from (directory, registered name,
            ``.safetensors``, ECGFounder ``.pth``; see :func:`ecgfm.train.encoders.load_encoder`),
            or ``None`` for a random initialisation.
        teacher: ``"random"`` (a frozen random encoder: the paper's "w/o pretrained teacher"
            ablation) or the 12-lead teacher's weights in any of the forms of ``model_init``.
        teacher_arch, teacher_args: architecture of a random teacher or of a plain weights file.
        proj_dim: ``None``: no projection when the widths are equal, else a student -> teacher
            head; an int: heads on both sides to ``proj_dim``.
        crop_samples: the student sees random crops of this many samples (0: the whole
            window; the teacher and validation always use the whole window).
        logit_scale, logit_bias, learnable_logits: SigLIP's scale, bias and whether they learn.
        contrast_weight: weight of the CMSC term on single-lead recordings (0: off).
        contrast_temperature, contrast_dim: its temperature and projection-head width.
        contrast_seconds: length of each of its two views in seconds.
        rr_weight: weight of the RR-distillation term on single-lead windows of
            :attr:`preset`'s length (0: off; needs the optional neurokit2).
        gather_distributed: gather embeddings across ranks in both losses (DDP).

    Attributes:
        preset (12-lead ``selfmis``), contrast_preset (lead I), contrast_length (samples of a
        CMSC view), encoder (the student: what is exported), teacher, pair, views
        (:class:`SelfCut`), loss (:class:`SigLIPLoss`), contrast (the CMSC loss or ``None``),
        objective (:class:`SelfMISObjective`; checkpoints leave out its
        :attr:`~SelfMISObjective.TEACHER_PREFIX`).
    """

    name = "selfmis"

    def __init__(
        self,
        model: str = "net1d_ecgfounder_lead1",
        *,
        teacher: str | os.PathLike[str],
        model_args: Mapping[str, Any] | None = None,
        model_init: str | os.PathLike[str] | None = None,
        teacher_arch: str = "net1d_ecgfounder",
        teacher_args: Mapping[str, Any] | None = None,
        proj_dim: int | None = None,
        crop_samples: int = 0,
        logit_scale: float = 1.0 / SELFMIS_TEMPERATURE,
        logit_bias: float = 0.0,
        learnable_logits: bool = False,
        contrast_weight: float = 0.0,
        contrast_temperature: float = 0.1,
        contrast_dim: int = 128,
        contrast_seconds: float = 5.0,
        rr_weight: float = 0.0,
        gather_distributed: bool = False,
    ) -> None:
        self.preset: Preset = get_preset("selfmis")
        self.contrast_preset: Preset = get_preset("selfmis", leads=("I",))
        if isinstance(crop_samples, bool) or not isinstance(crop_samples, int):
            raise TypeError(f"crop_samples must be an int, got {type(crop_samples).__name__}")
        if not 0 <= crop_samples <= self.preset.length:
            raise ValueError(
                f"crop_samples must be 0 (whole window) or at most the window's "
                f"{self.preset.length} samples, got {crop_samples}"
            )
        self.crop_samples = crop_samples
        self.contrast_weight = _check_number(
            "contrast_weight", contrast_weight, minimum=0.0, strict=False
        )
        seconds = _check_number("contrast_seconds", contrast_seconds, minimum=0.0, strict=True)
        self.contrast_length = round(seconds * self.contrast_preset.fs)
        if self.contrast_length < 1:
            raise ValueError(f"contrast_seconds={contrast_seconds!r} is shorter than one sample")
        self.rr_weight = _check_number("rr_weight", rr_weight, minimum=0.0, strict=False)
        self.rr_length = int(self.contrast_preset.length)
        if not isinstance(teacher, (str, os.PathLike)):
            raise TypeError(
                "teacher must be 'random' or the 12-lead teacher's weights (a path or a "
                f"registered name), got {type(teacher).__name__}"
            )
        # The construction order fixes the random initialisation for a seed: teacher, student,
        # projection heads, contrast head (examples/train_selfmis.py relies on it).
        self.teacher: nn.Module = build_encoder(
            os.fspath(teacher), arch=teacher_arch, arch_args=teacher_args, num_leads=12
        )
        self.encoder: nn.Module = build_encoder(
            None if model_init is None else os.fspath(model_init), arch=model,
            arch_args=model_args,
        )  # fmt: skip
        self.pair = SelfMIS(self.encoder, self.teacher, proj_dim=proj_dim)
        leads = tuple(self.encoder.in_leads)
        if len(leads) != 1:
            raise ValueError(
                f"the SelfMIS student takes one lead (self-cutting), but {model} takes leads "
                f"{list(leads)}; pass model_args with in_channels=1, or compose "
                "ecgfm.models.selfmis.SelfMIS with your own view by hand"
            )
        if (self.contrast_weight or self.rr_weight) and leads != ("I",):
            raise ValueError(
                f"the single-lead terms' recordings are lead I, but the student takes lead "
                f"{leads[0]}; use a lead-I student or contrast_weight=0 and rr_weight=0"
            )
        self.views = SelfCut(leads[0], derive=True, fs=self.preset.fs, leads=self.teacher.in_leads)
        self.loss = SigLIPLoss(
            logit_scale,
            logit_bias,
            learnable=learnable_logits,
            gather_distributed=gather_distributed,
        )
        self.contrast: PatientContrastiveLoss | None = None
        if self.contrast_weight:
            self.contrast = PatientContrastiveLoss(
                contrast_temperature, gather_distributed=gather_distributed
            )
        self.rr_loss = FeatureRegressionLoss() if self.rr_weight else None
        self.objective = SelfMISObjective(
            self.pair, self.loss, contrast=self.contrast,
            contrast_weight=self.contrast_weight or 1.0, contrast_dim=contrast_dim,
            regression=self.rr_loss, regression_weight=self.rr_weight or 1.0,
            regression_dim=len(RR_TARGET_NAMES),
        )  # fmt: skip

    def contrast_recordings(
        self,
        *,
        cinc_root: str | os.PathLike[str] | None = None,
        max_cinc: int | None = None,
        records: tuple[PretrainData, np.ndarray] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        storage_dtype: str = "float32",
        is_main: bool = True,
    ) -> tuple[SingleLeadRecords, np.ndarray]:
        """The single-lead recordings of the CMSC term and the indices of those long enough
        for two views of :attr:`contrast_length` samples (the others are left out, logged).

        Args:
            cinc_root: the CinC 2017 training folder, read as **unlabelled** lead-I recordings
                (:meth:`SingleLeadRecords.from_cinc2017`; ``max_cinc``: its first N only).
                Under ``torchrun`` pass ``is_main`` (``DistInfo.is_main``): rank 0 preprocesses
                and caches them first, the other ranks then read its cache.
            records: ``(data, index)``: lead I of these pre-training records (e.g. the PTB-XL
                training records), their patients kept.
            cache_dir, use_cache, storage_dtype: the CinC cache (as for the pre-training data).
        """
        preset, parts = self.contrast_preset, []
        if cinc_root is not None:
            kw = {"max_records": max_cinc, "cache_dir": cache_dir, "use_cache": use_cache,
                  "storage_dtype": storage_dtype}  # fmt: skip
            cinc = SingleLeadRecords.from_cinc2017(cinc_root, preset, **kw) if is_main else None
            barrier()  # rank 0 wrote the cache; the others read it
            parts.append(
                cinc
                if cinc is not None
                else SingleLeadRecords.from_cinc2017(cinc_root, preset, **kw)
            )
        if records is not None:
            parts.append(SingleLeadRecords.from_pretrain(records[0], records[1], preset))
        if not parts:
            raise ValueError("contrast_recordings needs cinc_root and/or records")
        recs = SingleLeadRecords.concat(parts) if len(parts) > 1 else parts[0]
        counts = recs.pair_counts(self.contrast_length)
        logger.info("CMSC recordings %s, %d-sample views: %s", recs.counts(),
                    self.contrast_length, counts)  # fmt: skip
        if counts["too_short"]:
            logger.warning("CMSC: %d recordings shorter than one view are left out",
                           counts["too_short"])  # fmt: skip
        return recs, np.flatnonzero(recs.lengths >= self.contrast_length)

    def rr_targets(
        self,
        recs: SingleLeadRecords,
        usable: np.ndarray,
        *,
        sample: int = 512,
        seed: int = 0,
    ) -> RRTargets:
        """The RR-distillation targets' standardisation, fitted on ``sample`` random windows
        of :attr:`rr_length` samples of the recordings ``usable`` of ``recs`` (drawn with
        ``seed``; no label is read)."""
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 8:
            raise ValueError(f"sample must be an int >= 8 windows, got {sample!r}")
        usable = np.asarray(usable, dtype=np.int64)
        if usable.size == 0:
            raise ValueError(f"no recording is as long as one {self.rr_length}-sample window")
        g = torch.Generator().manual_seed(seed)
        pick = usable[torch.randint(usable.size, (sample,), generator=g).numpy()]
        windows = recs.random_windows(pick, self.rr_length, g)
        return RRTargets.fit(windows, self.contrast_preset.fs)

    def _check_windows(self, x: object, what: str) -> torch.Tensor:
        leads = len(self.teacher.in_leads)
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1] != leads:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{what} must be a tensor (B, {leads}, T) of {leads}-lead windows in the "
                f"teacher's lead order {list(self.teacher.in_leads)} (method.preset), got {shape}"
            )
        return x

    def student_view(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None, train: bool = True
    ) -> torch.Tensor:
        """Self-cutting: the student's lead of windows ``x (B, 12, T)``, ``(B, 1, T)``; in
        training (``train``) a random ``crop_samples``-sample crop of it when the method has
        one, drawn with ``generator``."""
        single = self.views(self._check_windows(x, "x"), check_finite=False)[0].x
        if train and self.crop_samples:
            single = Fn.crop(single, self.crop_samples, "random", generator=generator)
        return single

    def training_loss(
        self,
        net: nn.Module,
        x: torch.Tensor,
        *,
        teacher_emb: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        views: tuple[torch.Tensor, torch.Tensor] | None = None,
        view_ids: Any = None,
        rr_windows: torch.Tensor | None = None,
        rr_target: torch.Tensor | None = None,
        rr_valid: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one step and its terms (``{"siglip"[, "contrast"][, "regression"]}``).

        Args:
            net: :attr:`objective` or its DDP wrapper.
            x: ``(B, 12, T)`` windows on the CPU (the student's view is cut there).
            teacher_emb: ``(B, D_teacher)`` cached raw teacher embeddings of the same records;
                ``None`` runs the frozen teacher on ``x``.
            generator: draws the student's crop (``crop_samples > 0``).
            views: two ``(B', 1, contrast_length)`` windows of ``B'`` single-lead recordings
                for the CMSC term (``contrast_weight > 0``), e.g. from
                :meth:`ecgfm.train.single_lead.SingleLeadRecords.pair_views`.
            view_ids: ``(B',)`` patient of each recording (positives share one).
            rr_windows: ``(B'', 1, rr_length)`` single-lead windows for the RR term
                (``rr_weight > 0``), e.g. from :meth:`SingleLeadRecords.random_windows`.
            rr_target, rr_valid: their standardised RR features ``(B'', 21)`` and validity
                ``(B'',)`` (:meth:`rr_targets` called on ``rr_windows``).
            device: the model's device.
        """
        student = self.student_view(x, generator=generator)
        kw: dict[str, Any] = {}
        if teacher_emb is None:
            kw["teacher_x"] = x.to(device)
        else:
            width = int(self.teacher.num_features)
            if not isinstance(teacher_emb, torch.Tensor) or tuple(teacher_emb.shape) != (
                len(x), width,
            ):  # fmt: skip
                shape = getattr(teacher_emb, "shape", type(teacher_emb).__name__)
                raise ValueError(
                    f"teacher_emb must be the teacher's raw embeddings ({len(x)}, {width}) of "
                    f"the records of x (ecgfm.train.teacher_cache.teacher_embeddings), got "
                    f"{tuple(shape) if isinstance(shape, torch.Size) else shape}"
                )
            kw["teacher_emb"] = teacher_emb.to(device)
        if views is not None:
            if self.contrast is None:
                raise ValueError(
                    "views given but the method has no contrast term; build it with "
                    "contrast_weight > 0 or leave views out"
                )
            kw.update(views=(views[0].to(device), views[1].to(device)), view_ids=view_ids)
        if rr_windows is not None:
            if self.rr_loss is None:
                raise ValueError(
                    "rr_windows given but the method has no RR term; build it with "
                    "rr_weight > 0 or leave rr_windows out"
                )
            if rr_target is None or rr_valid is None:
                raise ValueError("rr_windows need rr_target and rr_valid (RRTargets(rr_windows))")
            kw.update(regression_x=rr_windows.to(device), regression_target=rr_target.to(device),
                      regression_valid=rr_valid.to(device))  # fmt: skip
        loss, parts = net(student.to(device), **kw)
        return loss, {k: float(v) for k, v in parts.items()}

    @torch.no_grad()
    def validation_metrics(
        self,
        batches: Iterable[torch.Tensor],
        *,
        teacher_emb: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> dict[str, float]:
        """1-lead -> 12-lead retrieval over ``batches`` of whole windows ``(B, 12, T)``: the
        projected student embeddings of the student's lead retrieve the projected teacher
        embeddings of the same records; ``{"R@1", "R@5", "R@10", "mean_rank"}``.

        ``teacher_emb``: ``(N, D_teacher)`` cached raw teacher embeddings of the ``N`` records
        of ``batches``, in order (``None``: the teacher runs on each batch).
        """
        objective, done = self.objective, 0
        queries, keys = [], []
        for x in batches:
            x = self._check_windows(x, "each batch").to(device)
            queries.append(objective.embed_student(self.student_view(x, train=False)).float())
            if teacher_emb is None:
                t = self.teacher.forward_embedding(x)
            else:
                t = teacher_emb[done : done + len(x)].to(device)
            done += len(x)
            keys.append(objective.embed_teacher(t).float())
        if not queries:
            raise ValueError("validation_metrics: no validation windows")
        if teacher_emb is not None and len(teacher_emb) != done:
            raise ValueError(
                f"teacher_emb has {len(teacher_emb)} rows for {done} records: pass the cached "
                "embeddings of the records of batches, in order"
            )
        return retrieval_recall(torch.cat(queries), torch.cat(keys), (1, 5, 10))
