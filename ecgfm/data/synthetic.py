"""Synthetic 12-lead ECGs from the deepfake-ecg GAN (Pulse2Pulse, Thambawita et al. 2021).

The ``synthetic`` extra (``pip install 'ecgfm[synthetic]'``) ships a generator trained on real
ECGs that maps uniform noise ``(8, 5000)`` to a 10 s, 500 Hz ECG with leads I, II, V1-V6. Its
raw output times 6000 is in microvolts, i.e. ``raw * 6`` is in millivolts. ecgfm derives III,
aVR, aVL and aVF from I and II (:func:`ecgfm.leads.select_leads`) so records come out in the
canonical 12-lead order.

Records are a pure function of ``(seed, index)``: record ``i`` is generated in block
``i // block_size`` from noise drawn by a CPU ``torch.Generator`` seeded with
``seed * 1_000_003 + block``, so any index can be regenerated (and shards cached on disk are
reproducible). Generation runs in batches because one forward of 64 records costs far less
than 64 forwards of one.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ecgfm.leads import CANONICAL_LEADS, select_leads
from ecgfm.signal import ECGRecord

__all__ = ["DEEPFAKE_FS", "DEEPFAKE_LEADS", "DeepfakeECG", "load_deepfake_generator"]

logger = logging.getLogger(__name__)

DEEPFAKE_FS = 500.0
DEEPFAKE_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
_NUM_SAMPLES = 5000
_RAW_TO_MV = 6.0  # raw * 6000 = microvolts


def load_deepfake_generator(device: torch.device | str | None = None) -> torch.nn.Module:
    """The deepfake-ecg generator in eval mode, its checkpoint read with ``weights_only=True``."""
    try:
        import deepfakeecg
    except ImportError as e:
        raise ImportError(
            "synthetic ECGs need the deepfake-ecg package: pip install 'ecgfm[synthetic]'"
        ) from e
    ckpt = Path(deepfakeecg.__file__).parent / "checkpoints" / "g_stat.pt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"deepfake-ecg checkpoint missing at {ckpt}; reinstall the package")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "stat_dict" not in state:
        raise ValueError(f"unexpected deepfake-ecg checkpoint layout in {ckpt}")
    with warnings.catch_warnings():
        # the package's own init code calls a deprecated torch initialiser; the weights are
        # overwritten by the checkpoint right after, so the warning is noise for our users
        warnings.filterwarnings("ignore", category=FutureWarning, module="deepfakeecg")
        gen = deepfakeecg.Generator()
    gen.load_state_dict(state["stat_dict"], strict=True)
    return gen.to(device).eval().requires_grad_(False)


class DeepfakeECG(torch.utils.data.Dataset):
    """Map-style dataset of ``num_records`` synthetic 12-lead ECGs (500 Hz, 5000 samples, mV).

    Args:
        num_records: dataset length (any size; records are generated on demand).
        seed: selects an independent stream of records.
        block_size: records generated per GAN forward.
        cache_dir: optional directory for ``.npy`` shards (one per block, float16 to halve the
            disk space; the GAN output has ~1e-3 relative precision to begin with). Defaults to
            ``$ECGFM_CACHE/deepfake`` if that variable is set, else no disk cache.
        device: where the GAN runs.
        memory_blocks: number of recently used blocks kept in memory.

    Item ``i`` is an :class:`ECGRecord` with ``record_id = f"deepfake-{seed}-{i}"`` and
    ``patient_id`` equal to the record id (every synthetic record is its own "patient").
    """

    def __init__(
        self,
        num_records: int,
        *,
        seed: int = 0,
        block_size: int = 64,
        cache_dir: str | os.PathLike | None = None,
        device: torch.device | str | None = None,
        memory_blocks: int = 4,
    ) -> None:
        if int(num_records) <= 0:
            raise ValueError(f"num_records must be positive, got {num_records}")
        if int(block_size) <= 0:
            raise ValueError(f"block_size must be positive, got {block_size}")
        if int(seed) < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.num_records = int(num_records)
        self.seed = int(seed)
        self.block_size = int(block_size)
        if cache_dir is None and os.environ.get("ECGFM_CACHE"):
            cache_dir = Path(os.environ["ECGFM_CACHE"]) / "deepfake"
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.device = device
        self.memory_blocks = max(1, int(memory_blocks))
        self._gen: torch.nn.Module | None = None
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return self.num_records

    def _generate_block(self, block: int) -> np.ndarray:
        if self._gen is None:
            self._gen = load_deepfake_generator(self.device)
        rng = torch.Generator().manual_seed(self.seed * 1_000_003 + block)
        noise = torch.rand(self.block_size, 8, _NUM_SAMPLES, generator=rng) * 2.0 - 1.0
        dev = next(self._gen.parameters()).device
        with torch.inference_mode():
            raw = self._gen(noise.to(dev)).float().cpu()
        eight = raw * _RAW_TO_MV
        twelve = select_leads(eight, DEEPFAKE_LEADS, CANONICAL_LEADS)
        return twelve.numpy().astype(np.float32)

    def block(self, block: int) -> np.ndarray:
        """All records of one block, ``(block_size, 12, 5000)`` float32 mV."""
        if block in self._blocks:
            self._blocks.move_to_end(block)
            return self._blocks[block]
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / f"seed{self.seed}_bs{self.block_size}_block{block:07d}.npy"
        if path is not None and path.is_file():
            data = np.load(path).astype(np.float32)
        else:
            data = self._generate_block(block)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
                np.save(tmp, data.astype(np.float16))
                os.replace(tmp, path)
                data = data.astype(np.float16).astype(np.float32)  # same values as from disk
        self._blocks[block] = data
        while len(self._blocks) > self.memory_blocks:
            self._blocks.popitem(last=False)
        return data

    def signal(self, index: int) -> np.ndarray:
        """Record ``index`` as a ``(12, 5000)`` float32 array in mV."""
        if not 0 <= index < self.num_records:
            raise IndexError(f"index {index} out of range for {self.num_records} records")
        return self.block(index // self.block_size)[index % self.block_size]

    def __getitem__(self, index: int) -> ECGRecord:
        rid = f"deepfake-{self.seed}-{index}"
        return ECGRecord(
            self.signal(index).copy(),
            DEEPFAKE_FS,
            CANONICAL_LEADS,
            record_id=rid,
            patient_id=rid,
            meta={"source": "deepfake-ecg", "derived_leads": ("III", "aVR", "aVL", "aVF")},
        )
