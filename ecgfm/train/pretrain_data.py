"""Pre-training data: PTB-XL training folds + deepfake-ecg synthetic records, preprocessed once.

:meth:`PretrainData.build` reads the records, brings them to a model's preset (lead order,
resampling, the preset's whole-record filters) **once**, and caches the result as one ``.npy``
array outside the repository (``$ECGFM_CACHE`` or ``~/.cache/ecgfm``, under ``pretrain/``), keyed
by a hash of everything that determines it (preset configuration, PTB-XL root / rate / folds /
record list, number and seed of synthetic records, storage dtype). A later run with the same
configuration memory-maps the cache instead of preprocessing again (the ECGFounder preset's
201-sample running median costs about 0.4 s per record on a CPU core).

Per training step only the cheap part runs: :meth:`PretrainData.windows` crops a window of the
preset's length (random for training, fixed for validation) and applies the preset's
per-window normalisation (e.g. the z-score). This equals ``preset.prepare`` on the raw record
with the same window (filters act on the whole record before windowing in both cases).

Sources:

- **PTB-XL** (``ptbxl_root``): the strat folds in ``folds`` (default 1-7, so that folds 8 and 9
  stay free for the validation/test sets of PTB-XL probes in the shared subset, where the
  official test fold 10 is absent), read at ``ptbxl_fs`` (100 Hz has every record; 500 Hz only
  a few hundred in the shared subset). Labels are never read.
- **deepfake-ecg** (``synthetic``): :class:`ecgfm.data.DeepfakeECG` records ``0..synthetic-1``
  of ``synthetic_seed`` (its GAN output is cached in ``<cache>/deepfake``); every synthetic
  record is its own patient.

Held-aside validation (:meth:`PretrainData.holdout`): all records of the *last* PTB-XL patients
(patients ordered by their largest ``ecg_id``), added until at least ``num_val`` records are
held aside, so no validation patient is seen in training. Without PTB-XL records, the last
``num_val`` synthetic records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgfm._cache import cache_root
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.preprocessing import Compose
from ecgfm.transforms.presets import Preset

__all__ = [
    "DEFAULT_PRETRAIN_FOLDS",
    "DataSources",
    "PretrainData",
    "default_cache_dir",
    "same_patient_partners",
]

logger = logging.getLogger(__name__)

#: PTB-XL strat folds used for pre-training by default (8 and 9 are left to probes; 10 is the
#: official test fold).
DEFAULT_PRETRAIN_FOLDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
_CACHE_VERSION = 1
_STORAGE = {"float32": np.float32, "float16": np.float16}
_CHUNK = 32  # records preprocessed per call (the filters are vectorised over a batch)


def default_cache_dir() -> Path:
    """``$ECGFM_CACHE`` if set, else ``~/.cache/ecgfm`` (:func:`ecgfm._cache.cache_root`)."""
    return cache_root()


@dataclass(frozen=True)
class DataSources:
    """Which records to pre-train on (see the module docstring).

    Attributes:
        ptbxl_root: PTB-XL folder, or None for no PTB-XL records.
        folds: PTB-XL strat folds to read.
        ptbxl_fs: which published copy of PTB-XL to read (100 or 500 Hz).
        max_ptbxl: keep only the first ``max_ptbxl`` PTB-XL records (by ``ecg_id``); None = all.
        synthetic: number of deepfake-ecg records.
        synthetic_seed: their stream (``DeepfakeECG(seed=...)``).
    """

    ptbxl_root: str | None = None
    folds: tuple[int, ...] = DEFAULT_PRETRAIN_FOLDS
    ptbxl_fs: int = 100
    max_ptbxl: int | None = None
    synthetic: int = 0
    synthetic_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "folds", tuple(int(f) for f in self.folds))
        if self.ptbxl_root is not None:
            object.__setattr__(self, "ptbxl_root", str(Path(self.ptbxl_root).expanduser()))
        if self.ptbxl_fs not in (100, 500):
            raise ValueError(f"ptbxl_fs must be 100 or 500, got {self.ptbxl_fs!r}")
        if self.max_ptbxl is not None and self.max_ptbxl < 1:
            raise ValueError(f"max_ptbxl must be None or >= 1, got {self.max_ptbxl}")
        if isinstance(self.synthetic, bool) or not isinstance(self.synthetic, int):
            raise TypeError(f"synthetic must be an int number of records, got {self.synthetic!r}")
        if self.synthetic < 0 or self.synthetic_seed < 0:
            raise ValueError("synthetic and synthetic_seed must be >= 0")
        if self.ptbxl_root is None and self.synthetic == 0:
            raise ValueError(
                "no pre-training data: give a PTB-XL root (--ptbxl-root) and/or a number of "
                "synthetic records (--synthetic N)"
            )


def _ptbxl(sources: DataSources) -> Any:
    from ecgfm.data import PTBXL

    assert sources.ptbxl_root is not None
    return PTBXL(sources.ptbxl_root, sources.ptbxl_fs, folds=sources.folds, labels=None)


def _cache_key(preset: Preset, sources: DataSources, ecg_ids: Sequence[int], dtype: str) -> str:
    spec = {
        "version": _CACHE_VERSION,
        "preset": preset.to_config(),
        "sources": dataclasses.asdict(sources),
        "ptbxl_ids": hashlib.sha256(",".join(map(str, ecg_ids)).encode()).hexdigest(),
        "dtype": dtype,
    }
    blob = json.dumps(spec, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def _record_length(preset: Preset, n_in: int, fs_in: float) -> int:
    n = n_in * preset.fs / fs_in
    if abs(n - round(n)) > 1e-6:
        raise ValueError(
            f"a record of {n_in} samples at {fs_in:g} Hz is not a whole number of samples at "
            f"{preset.fs:g} Hz; crop the source records first"
        )
    return round(n)


@dataclass
class _Plan:
    """The records of :class:`DataSources`, in order: PTB-XL first, then synthetic."""

    ptbxl: Any
    n_ptb: int
    synthetic: Any
    record_ids: list[str]
    patient_ids: list[str]
    kinds: list[str]
    ecg_ids: list[int]

    @classmethod
    def make(cls, sources: DataSources, deepfake_cache: Path | None, device: Any) -> _Plan:
        ptbxl = _ptbxl(sources) if sources.ptbxl_root is not None else None
        n_ptb = 0 if ptbxl is None else len(ptbxl)
        if sources.max_ptbxl is not None:
            n_ptb = min(n_ptb, sources.max_ptbxl)
        if ptbxl is not None and n_ptb == 0:
            logger.warning("PTB-XL folds %s of %s have no record", sources.folds, ptbxl.root)
        plan = cls(ptbxl, n_ptb, None, [], [], ["ptbxl"] * n_ptb, [])
        if ptbxl is not None:
            plan.ecg_ids = [int(e) for e in ptbxl.ecg_ids[:n_ptb]]
            plan.record_ids = list(ptbxl.record_ids[:n_ptb])
            # a record without patient id is its own patient
            plan.patient_ids = [
                f"ptbxl-{p}" if p is not None else f"ptbxl-record-{r}"
                for p, r in zip(ptbxl.patient_ids[:n_ptb], plan.record_ids, strict=True)
            ]
        if sources.synthetic:
            from ecgfm.data import DeepfakeECG

            plan.synthetic = DeepfakeECG(
                sources.synthetic,
                seed=sources.synthetic_seed,
                cache_dir=deepfake_cache,
                device=device,
            )
            ids = [f"deepfake-{sources.synthetic_seed}-{i}" for i in range(sources.synthetic)]
            plan.record_ids += ids
            plan.patient_ids += ids
            plan.kinds += ["deepfake"] * len(ids)
        if not plan.record_ids:
            raise ValueError(f"no pre-training record found for {sources}")
        return plan

    def batches(self) -> Iterator[tuple[int, np.ndarray, float, tuple[str, ...]]]:
        """``(first index, raw signals (b, C, T) in mV, fs, leads)`` in chunks."""
        for start in range(0, self.n_ptb, _CHUNK):
            recs = [self.ptbxl[i] for i in range(start, min(start + _CHUNK, self.n_ptb))]
            yield start, np.stack([r.signal for r in recs]), recs[0].fs, recs[0].leads
        if self.synthetic is not None:
            n = len(self.synthetic)
            leads = self.synthetic[0].leads
            for start in range(0, n, _CHUNK):
                x = np.stack(
                    [self.synthetic.signal(i) for i in range(start, min(start + _CHUNK, n))]
                )
                yield self.n_ptb + start, x, 500.0, leads


def _preprocess(
    plan: _Plan, preset: Preset, allocate: Callable[..., np.ndarray], dtype: str
) -> np.ndarray:
    """Every record through the preset's leads, resampling and filters (not windowed, not
    normalised) into ``allocate((N, C, T), dtype)``."""
    out: np.ndarray | None = None
    n = len(plan.record_ids)
    t0 = time.monotonic()
    for start, x, fs_in, leads in plan.batches():
        t_rec = _record_length(preset, x.shape[-1], fs_in)
        whole = dataclasses.replace(preset, length=t_rec, normalize=Compose([]), min_length=None)
        y, _ = whole.prepare(x, fs_in, leads, windows="first")
        if out is None:
            assert preset.leads is not None
            out = allocate((n, len(preset.leads), t_rec), _STORAGE[dtype])
        if y.shape[-1] != out.shape[-1]:
            raise ValueError(
                f"record {plan.record_ids[start]} has {y.shape[-1]} samples at {preset.fs:g} "
                f"Hz, earlier records {out.shape[-1]}; all pre-training records must have the "
                "same duration"
            )
        out[start : start + len(y)] = y.cpu().numpy()
        done, elapsed = start + len(y), time.monotonic() - t0
        logger.info(
            "preprocessed %d/%d records for preset %r (%.1f s, %.2f s/record)",
            done,
            n,
            preset.name,
            elapsed,
            elapsed / done,
        )
    assert out is not None
    return out


class PretrainData:
    """Preprocessed pre-training records ``(N, C, T)`` at the preset's rate (not windowed).

    Build with :meth:`build`. Attributes: ``signals`` (read-only array, possibly a memory map),
    ``record_ids``, ``patient_ids`` and ``sources`` (``"ptbxl"`` / ``"deepfake"``) per record,
    ``preset``, ``fs``, ``leads``, ``cache_key`` and ``cache_path`` (None when not cached).
    """

    def __init__(
        self,
        signals: np.ndarray,
        record_ids: Sequence[str],
        patient_ids: Sequence[str],
        sources: Sequence[str],
        preset: Preset,
        *,
        cache_key: str = "",
        cache_path: Path | None = None,
        ecg_ids: Sequence[int] = (),
    ) -> None:
        if signals.ndim != 3:
            raise ValueError(f"signals must be (N, C, T), got shape {signals.shape}")
        n = signals.shape[0]
        if not (len(record_ids) == len(patient_ids) == len(sources) == n):
            raise ValueError("record_ids, patient_ids and sources need one entry per record")
        if preset.leads is not None and signals.shape[1] != len(preset.leads):
            raise ValueError(f"signals have {signals.shape[1]} leads, the preset {preset.leads}")
        self.signals = signals
        self.record_ids = tuple(record_ids)
        self.patient_ids = tuple(patient_ids)
        self.sources = tuple(sources)
        self.preset = preset
        self.fs = preset.fs
        self.leads = preset.leads
        self.cache_key = cache_key
        self.cache_path = cache_path
        self.ecg_ids = tuple(int(e) for e in ecg_ids)

    def __len__(self) -> int:
        return int(self.signals.shape[0])

    def __repr__(self) -> str:
        return (
            f"PretrainData(n={len(self)}, {self.counts()}, preset={self.preset.name!r}, "
            f"shape={tuple(self.signals.shape)})"
        )

    @property
    def record_length(self) -> int:
        """Samples per cached record at ``fs``."""
        return int(self.signals.shape[-1])

    def counts(self) -> dict[str, int]:
        """Number of records per source, e.g. ``{"ptbxl": 1319, "deepfake": 1000}``."""
        out: dict[str, int] = {}
        for s in self.sources:
            out[s] = out.get(s, 0) + 1
        return out

    # --- building --------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        sources: DataSources,
        preset: Preset,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        storage_dtype: str = "float32",
        device: torch.device | str | None = None,
    ) -> PretrainData:
        """Preprocess (or load from the cache) the records of ``sources`` for ``preset``.

        Args:
            sources: which records.
            preset: the model's preset (``get_preset(...)``); its ``length`` is the window
                cut by :meth:`windows`, the cached records keep their full length.
            cache_dir: cache root (default :func:`default_cache_dir`).
            use_cache: False: preprocess in memory, read and write no cache.
            storage_dtype: ``"float32"`` (exact) or ``"float16"`` (half the disk and memory;
                relative error <= 2**-11).
            device: where the synthetic generator runs (default CPU).

        Under ``torchrun`` let rank 0 build first and the other ranks call this after a
        barrier: they then memory-map the same cache file.
        """
        if not isinstance(preset, Preset):
            raise TypeError(f"preset must be an ecgfm Preset, got {type(preset).__name__}")
        if storage_dtype not in _STORAGE:
            raise ValueError(f"storage_dtype must be one of {sorted(_STORAGE)}")
        if preset.leads is None:
            raise ValueError("the preset must fix its leads (every built-in preset does)")
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        plan = _Plan.make(sources, (root / "deepfake") if use_cache else None, device)
        key = _cache_key(preset, sources, plan.ecg_ids, storage_dtype)
        folder = root / "pretrain" / f"{preset.name}-{key}"
        if use_cache and (folder / "meta.json").is_file():
            return cls._load(folder, preset, key)
        if not use_cache:
            signals = _preprocess(plan, preset, np.empty, storage_dtype)
            return cls(
                signals,
                plan.record_ids,
                plan.patient_ids,
                plan.kinds,
                preset,
                cache_key=key,
                ecg_ids=plan.ecg_ids,
            )
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:

            def allocate(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
                return np.lib.format.open_memmap(tmp_dir / "signals.npy", "w+", dtype, shape)

            signals = _preprocess(plan, preset, allocate, storage_dtype)
            signals.flush()  # type: ignore[attr-defined]
            meta = {
                "record_ids": plan.record_ids,
                "patient_ids": plan.patient_ids,
                "sources": plan.kinds,
                "ecg_ids": plan.ecg_ids,
                "data_sources": dataclasses.asdict(sources),
                "preset": preset.to_config(),
                "shape": list(signals.shape),
                "dtype": storage_dtype,
            }
            del signals
            (tmp_dir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            try:
                os.replace(tmp_dir, folder)
            except OSError:  # another process finished the same cache first: use theirs
                if not (folder / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        logger.info("cached %d preprocessed records in %s", len(plan.record_ids), folder)
        return cls._load(folder, preset, key)

    @classmethod
    def _load(cls, folder: Path, preset: Preset, key: str) -> PretrainData:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        signals = np.load(folder / "signals.npy", mmap_mode="r")
        if list(signals.shape) != meta["shape"]:
            raise ValueError(
                f"cache {folder} is inconsistent (signals {signals.shape} vs meta "
                f"{meta['shape']}); delete the folder to rebuild it"
            )
        return cls(
            signals,
            meta["record_ids"],
            meta["patient_ids"],
            meta["sources"],
            preset,
            cache_key=key,
            cache_path=folder,
            ecg_ids=meta.get("ecg_ids", ()),
        )

    # --- per-step access -------------------------------------------------------------------

    def records(self, index: torch.Tensor | Sequence[int] | np.ndarray) -> torch.Tensor:
        """Cached records ``(B, C, T)`` float32 (filtered, not normalised, full length)."""
        idx = np.asarray(torch.as_tensor(index, dtype=torch.long).cpu().numpy(), dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"index must be 1-D, got shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"record index out of range for {len(self)} records")
        return torch.from_numpy(np.asarray(self.signals[idx], dtype=np.float32))

    def windows(
        self,
        index: torch.Tensor | Sequence[int] | np.ndarray,
        *,
        crop: str = "random",
        length: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Model input windows ``(B, C, length)``: crop, then the preset's normalisation.

        Args:
            index: record indices ``(B,)``.
            crop: ``"random"`` (training; one offset per record from ``generator``),
                ``"center"`` or ``"start"`` (validation).
            length: window length (default the preset's).
            generator: CPU generator for random crops (same seed, same crops).
        """
        x = self.records(index)
        length = self.preset.length if length is None else int(length)
        if length > x.shape[-1]:
            raise ValueError(
                f"windows of {length} samples requested but records have {x.shape[-1]}"
            )
        if length < x.shape[-1]:
            x = Fn.crop(x, length, crop, generator=generator)  # type: ignore[arg-type]
        y, _, _ = self.preset.normalize(x, self.fs, self.leads)
        return torch.as_tensor(y, dtype=torch.float32).contiguous()

    def center_batches(
        self, index: np.ndarray | Sequence[int], batch_size: int = 64
    ) -> Iterator[torch.Tensor]:
        """Centre-cropped :meth:`windows` of ``index`` in consecutive batches of ``batch_size``
        records (validation: the same windows at every call)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for start in range(0, len(index), batch_size):
            yield self.windows(index[start : start + batch_size], crop="center")

    # --- splits ----------------------------------------------------------------------------

    def holdout(self, num_val: int) -> tuple[np.ndarray, np.ndarray]:
        """``(train_indices, val_indices)``: held-aside records by patient (module docstring).

        ``num_val = 0`` gives an empty validation set.
        """
        if isinstance(num_val, bool) or not isinstance(num_val, int) or num_val < 0:
            raise ValueError(f"num_val must be an int >= 0, got {num_val!r}")
        n = len(self)
        if num_val == 0:
            return np.arange(n), np.empty(0, dtype=np.int64)
        if num_val >= n:
            raise ValueError(f"cannot hold aside {num_val} of {n} records; lower --val-records")
        ptb = [i for i, s in enumerate(self.sources) if s == "ptbxl"]
        if ptb:
            members: dict[str, list[int]] = {}
            for i in ptb:
                members.setdefault(self.patient_ids[i], []).append(i)
            ids = self.ecg_ids

            def last_ecg(patient: str) -> int:
                return max(ids[i] if i < len(ids) else i for i in members[patient])

            picked: list[int] = []
            for patient in sorted(members, key=last_ecg, reverse=True):
                if len(picked) >= num_val:
                    break
                picked.extend(members[patient])
            val = np.asarray(sorted(picked), dtype=np.int64)
        else:
            val = np.arange(n - num_val, n, dtype=np.int64)
        if len(val) >= n:
            raise ValueError(f"holding aside {num_val} records leaves none for training")
        train = np.setdiff1d(np.arange(n), val)
        return train, val


def same_patient_partners(
    index: torch.Tensor,
    patient_ids: Sequence[str],
    pool: np.ndarray | Sequence[int],
    generator: torch.Generator,
) -> torch.Tensor:
    """For each record in ``index``, another record of the same patient from ``pool``.

    Records whose patient has no other record in ``pool`` get a random record of ``pool``
    instead (of another patient, when possible). Used by Hybrid Learning's patient-level term:
    a batch of ``index`` and its partners holds pairs of different ECGs of one patient.

    Returns a ``(B,)`` long tensor of record indices.
    """
    pool_arr = np.asarray(pool, dtype=np.int64)
    if pool_arr.size < 2:
        raise ValueError("the pool needs at least 2 records")
    groups: dict[str, list[int]] = {}
    for i in pool_arr.tolist():
        groups.setdefault(patient_ids[i], []).append(i)
    out = []
    for i in torch.as_tensor(index).tolist():
        others = [j for j in groups.get(patient_ids[i], []) if j != i]
        if others:
            out.append(others[int(torch.randint(len(others), (1,), generator=generator))])
            continue
        for _ in range(8):  # a random record of another patient (collisions are rare)
            j = int(pool_arr[int(torch.randint(pool_arr.size, (1,), generator=generator))])
            if patient_ids[j] != patient_ids[i]:
                break
        out.append(j)
    return torch.as_tensor(out, dtype=torch.long)
