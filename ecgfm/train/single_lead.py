"""Single-lead recordings of any length, for SelfMIS's single-lead terms: the patient-level
contrast (CLOCS CMSC) and the RR distillation.

:class:`SingleLeadRecords` holds lead-I recordings of different lengths brought to a
single-lead preset **once** (lead selection, resampling, the preset's whole-record filters; not
windowed, not normalised), stored flat with per-record offsets. Two sources:

- :meth:`SingleLeadRecords.from_cinc2017`: the PhysioNet/CinC 2017 recordings (AliveCor,
  300 Hz, 9-61 s), read with :class:`ecgfm.data.CinC2017` as whole records. Their labels are
  **not kept**: only signals, record names and lengths are stored (the reader needs its
  reference file to list the records). The result is cached like
  :class:`~ecgfm.train.pretrain_data.PretrainData` (``<cache>/single_lead/<preset>-<key>/``,
  keyed by the preset, the root, the record list and the storage dtype).
- :meth:`SingleLeadRecords.from_pretrain`: lead I of records of a
  :class:`~ecgfm.train.pretrain_data.PretrainData` (e.g. the PTB-XL training records, 10 s).

:meth:`SingleLeadRecords.pair_views` cuts two windows of one recording for every requested
record (the two views of CMSC, positives of each other): recordings of at least two windows
give two **non-overlapping** windows at random positions (exactly the two halves of a record
of two windows); recordings of one to two windows give their first and last window, which
overlap by ``2 * length - T`` samples; shorter recordings cannot give a pair
(:meth:`SingleLeadRecords.pair_counts` counts the three kinds). Each view then gets the
preset's per-window normalisation. :meth:`SingleLeadRecords.random_windows` cuts one window of
each requested record at a random position (the RR-distillation term).
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgfm.transforms import functional as Fn
from ecgfm.transforms.preprocessing import Compose
from ecgfm.transforms.presets import Preset

__all__ = ["SingleLeadRecords"]

logger = logging.getLogger(__name__)

_CACHE_VERSION = 1
_STORAGE = {"float32": np.float32, "float16": np.float16}


def _check_preset(preset: Preset) -> None:
    if not isinstance(preset, Preset):
        raise TypeError(f"preset must be an ecgfm Preset, got {type(preset).__name__}")
    if preset.leads != ("I",):
        raise ValueError(
            f"preset must take lead I only (e.g. get_preset('selfmis', leads=('I',))), got "
            f"leads {preset.leads}"
        )


def _resampled_length(preset: Preset, n_in: int, fs_in: float) -> int:
    """Samples at ``preset.fs`` that ``Fn.resample`` makes of ``n_in`` samples at ``fs_in``."""
    if fs_in == preset.fs:
        return n_in
    if preset.resample_method == "fft":
        return int(n_in * preset.fs // fs_in)
    up, down = Fn.resample_ratio(fs_in, preset.fs)
    return -(-n_in * up // down)


class SingleLeadRecords:
    """Lead-I recordings of different lengths at a preset's rate (see the module docstring).

    Attributes: ``signals`` (flat ``(sum of lengths,)`` array, possibly a memory map),
    ``offsets`` ``(N + 1,)`` (record ``i`` is ``signals[offsets[i]:offsets[i + 1]]``),
    ``record_ids``, ``patient_ids`` and ``sources`` per record, ``preset``, ``cache_path``.
    """

    def __init__(
        self,
        signals: np.ndarray,
        offsets: np.ndarray,
        record_ids: Sequence[str],
        patient_ids: Sequence[str],
        sources: Sequence[str],
        preset: Preset,
        *,
        cache_path: Path | None = None,
    ) -> None:
        _check_preset(preset)
        offsets = np.asarray(offsets, dtype=np.int64)
        if signals.ndim != 1 or offsets.ndim != 1 or offsets.size < 1:
            raise ValueError(
                f"signals must be 1-D and offsets (N + 1,), got {signals.shape}, {offsets.shape}"
            )
        n = offsets.size - 1
        if offsets[0] != 0 or offsets[-1] != signals.size or np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must rise from 0 to len(signals)")
        if not (len(record_ids) == len(patient_ids) == len(sources) == n):
            raise ValueError("record_ids, patient_ids and sources need one entry per record")
        self.signals = signals
        self.offsets = offsets
        self.record_ids = tuple(record_ids)
        self.patient_ids = tuple(patient_ids)
        self.sources = tuple(sources)
        self.preset = preset
        self.cache_path = cache_path

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def __repr__(self) -> str:
        return f"SingleLeadRecords(n={len(self)}, {self.counts()}, preset={self.preset.name!r})"

    @property
    def lengths(self) -> np.ndarray:
        """Samples per recording at ``preset.fs``, ``(N,)`` int64."""
        return np.diff(self.offsets)

    def counts(self) -> dict[str, int]:
        """Number of recordings per source, e.g. ``{"cinc2017": 4280, "ptbxl": 1191}``."""
        out: dict[str, int] = {}
        for s in self.sources:
            out[s] = out.get(s, 0) + 1
        return out

    def pair_counts(self, length: int) -> dict[str, int]:
        """How many recordings give two disjoint ``length``-sample windows, two overlapping
        ones (one to two windows long), or no pair (shorter than one window)."""
        n = self.lengths
        return {
            "disjoint": int(np.sum(n >= 2 * length)),
            "overlapping": int(np.sum((n >= length) & (n < 2 * length))),
            "too_short": int(np.sum(n < length)),
        }

    # --- building --------------------------------------------------------------------------

    @classmethod
    def concat(cls, parts: Sequence[SingleLeadRecords]) -> SingleLeadRecords:
        """One collection of the recordings of ``parts`` (in memory), in order."""
        if not parts:
            raise ValueError("concat needs at least one SingleLeadRecords")
        preset = parts[0].preset
        if any(p.preset.to_config() != preset.to_config() for p in parts):
            raise ValueError("all parts must share one preset")
        signals = np.concatenate([np.asarray(p.signals, dtype=np.float32) for p in parts])
        starts = np.cumsum([0] + [p.offsets[-1] for p in parts[:-1]])
        offsets = np.concatenate(
            [[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts, strict=True)]
        )
        return cls(
            signals,
            offsets,
            [r for p in parts for r in p.record_ids],
            [r for p in parts for r in p.patient_ids],
            [r for p in parts for r in p.sources],
            preset,
        )

    @classmethod
    def from_pretrain(
        cls, data: Any, index: np.ndarray | Sequence[int], preset: Preset
    ) -> SingleLeadRecords:
        """Lead I of ``data``'s records ``index`` (a :class:`PretrainData` at ``preset.fs``).

        The cached records are already filtered with the same filters (per lead), so lead I
        is used as it is; patient ids and sources are the ones of ``data``.
        """
        _check_preset(preset)
        if getattr(data, "fs", None) != preset.fs or "I" not in (data.leads or ()):
            raise ValueError(
                f"data must hold lead I at {preset.fs:g} Hz (a PretrainData built with the "
                f"12-lead version of preset {preset.name!r})"
            )
        idx = np.asarray(index, dtype=np.int64)
        if idx.ndim != 1 or idx.size == 0:
            raise ValueError("index must be a non-empty 1-D list of record indices")
        lead = data.leads.index("I")
        x = data.records(idx)[:, lead].numpy()  # (B, T) float32
        offsets = np.arange(idx.size + 1, dtype=np.int64) * x.shape[1]
        return cls(
            x.reshape(-1).copy(),
            offsets,
            [data.record_ids[i] for i in idx],
            [data.patient_ids[i] for i in idx],
            [data.sources[i] for i in idx],
            preset,
        )

    @classmethod
    def from_cinc2017(
        cls,
        root: str | os.PathLike[str],
        preset: Preset,
        *,
        max_records: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        storage_dtype: str = "float32",
    ) -> SingleLeadRecords:
        """The CinC 2017 recordings under ``root`` as unlabelled lead-I recordings.

        Every recording is its own patient (``"cinc2017-<name>"``: CinC 2017 has no patient
        ids). ``max_records`` keeps the first records of ``RECORDS`` (quick runs). The polyphase
        resampling 300 -> 500 Hz gives ``ceil(T * 5 / 3)`` samples. Under ``torchrun`` let
        rank 0 build first (it writes the cache) and the other ranks call this after a barrier.
        """
        from ecgfm.data import CinC2017
        from ecgfm.train.pretrain_data import default_cache_dir

        _check_preset(preset)
        if storage_dtype not in _STORAGE:
            raise ValueError(f"storage_dtype must be one of {sorted(_STORAGE)}")
        if max_records is not None and (isinstance(max_records, bool) or max_records < 1):
            raise ValueError(f"max_records must be None or >= 1, got {max_records!r}")
        ds = CinC2017(root, segment_seconds=None, nan_policy="zero")
        names = list(ds.recordings[:max_records])
        spec = {
            "version": _CACHE_VERSION,
            "preset": preset.to_config(),
            "root": str(Path(root).expanduser().resolve()),
            "records": hashlib.sha256(",".join(names).encode()).hexdigest(),
            "dtype": storage_dtype,
        }
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
        base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        folder = base / "single_lead" / f"{preset.name}-I-{key}"
        if use_cache and (folder / "meta.json").is_file():
            return cls._load(folder, preset)
        signals, offsets = _preprocess_cinc(ds, len(names), preset, storage_dtype)
        ids = [f"cinc2017-{n}" for n in names]
        out = cls(signals, offsets, names, ids, ["cinc2017"] * len(names), preset)
        if use_cache:
            out._save(folder, spec)
            return cls._load(folder, preset)
        return out

    def _save(self, folder: Path, spec: dict[str, Any]) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            np.save(tmp / "signals.npy", self.signals)
            np.save(tmp / "offsets.npy", self.offsets)
            meta = {**spec, "record_ids": self.record_ids, "patient_ids": self.patient_ids}
            meta["sources"] = self.sources
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            try:
                os.replace(tmp, folder)
            except OSError:  # another process finished the same cache first: use theirs
                if not (folder / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info("cached %d single-lead recordings in %s", len(self), folder)

    @classmethod
    def _load(cls, folder: Path, preset: Preset) -> SingleLeadRecords:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        signals = np.load(folder / "signals.npy", mmap_mode="r")
        offsets = np.load(folder / "offsets.npy")
        if offsets[-1] != signals.size:
            raise ValueError(f"cache {folder} is inconsistent; delete the folder to rebuild it")
        return cls(
            signals,
            offsets,
            meta["record_ids"],
            meta["patient_ids"],
            meta["sources"],
            preset,
            cache_path=folder,
        )

    # --- per-step access -------------------------------------------------------------------

    def pair_views(
        self,
        index: torch.Tensor | Sequence[int] | np.ndarray,
        length: int,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two normalised windows ``(B, 1, length)`` of each recording of ``index`` (the
        module docstring says where they lie); ``generator`` draws positions and order."""
        views: list[list[np.ndarray]] = [[], []]
        advice = "leave it out (pair_counts) or shorten the views"
        for lo, n in self._spans(index, length, "view", advice):
            if n >= 2 * length:  # a <= b uniform: windows [a, a + L) and [b + L, b + 2L)
                a, b = sorted(torch.randint(n - 2 * length + 1, (2,), generator=generator))
                starts = [int(a), int(b) + length]
            else:
                starts = [0, n - length]
            if bool(torch.rand((), generator=generator) < 0.5):
                starts.reverse()
            for v, s in zip(views, starts, strict=True):
                v.append(np.asarray(self.signals[lo + s : lo + s + length], dtype=np.float32))
        return self._normalised(views[0], length), self._normalised(views[1], length)

    def random_windows(
        self,
        index: torch.Tensor | Sequence[int] | np.ndarray,
        length: int,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """One normalised window ``(B, 1, length)`` of each recording of ``index``, at a
        uniform random position drawn with ``generator`` (e.g. the windows of the
        RR-distillation term)."""
        out = []
        for lo, n in self._spans(index, length, "window", "leave it out (lengths >= length)"):
            s = int(torch.randint(n - length + 1, (), generator=generator))
            out.append(np.asarray(self.signals[lo + s : lo + s + length], dtype=np.float32))
        return self._normalised(out, length)

    def _spans(
        self,
        index: torch.Tensor | Sequence[int] | np.ndarray,
        length: int,
        what: str,
        advice: str,
    ) -> list[tuple[int, int]]:
        """``(first sample, samples)`` of every recording of ``index``, each checked to hold
        one ``length``-sample ``what`` (the error names ``advice``)."""
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1).tolist()
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be a positive int, got {length!r}")
        spans = []
        for i in idx:
            if not 0 <= i < len(self):
                raise IndexError(f"record index {i} out of range for {len(self)} recordings")
            lo, n = int(self.offsets[i]), int(self.offsets[i + 1] - self.offsets[i])
            if n < length:
                raise ValueError(
                    f"recording {self.record_ids[i]} has {n} samples, fewer than one "
                    f"{length}-sample {what}; {advice}"
                )
            spans.append((lo, n))
        return spans

    def _normalised(self, windows: list[np.ndarray], length: int) -> torch.Tensor:
        """The preset's per-window normalisation of raw windows, ``(B, 1, length)``."""
        x = torch.from_numpy(np.stack(windows))[:, None] if windows else torch.empty(0, 1, length)
        y, _, _ = self.preset.normalize(x, self.preset.fs, ("I",))
        return torch.as_tensor(y, dtype=torch.float32).contiguous()


def _preprocess_cinc(
    ds: Any, n: int, preset: Preset, storage_dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Whole recordings ``0..n-1`` of ``ds`` through the preset (no windowing/normalising)."""
    chunks, offsets = [], [0]
    t0 = time.monotonic()
    for i in range(n):
        rec = ds[i]
        n_out = _resampled_length(preset, rec.num_samples, rec.fs)
        whole = dataclasses.replace(preset, length=n_out, normalize=Compose([]), min_length=None)
        y, _ = whole.prepare(rec.signal, rec.fs, rec.leads, windows="first")
        chunks.append(y[0, 0].cpu().numpy().astype(_STORAGE[storage_dtype]))
        offsets.append(offsets[-1] + chunks[-1].size)
        if (i + 1) % 500 == 0 or i + 1 == n:
            elapsed = time.monotonic() - t0
            logger.info("preprocessed %d/%d CinC 2017 recordings (%.1f s)", i + 1, n, elapsed)
    return np.concatenate(chunks), np.asarray(offsets, dtype=np.int64)
