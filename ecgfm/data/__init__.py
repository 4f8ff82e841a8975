"""Data readers: WFDB records, PTB-XL, PhysioNet/CinC 2017, in-memory arrays, synthetic ECGs.

Every reader yields :class:`ecgfm.signal.ECGRecord` items (float32 ``(C, T)`` millivolts with
``fs``, lead names, ids, labels and provenance in ``meta``) and is a map-style
``torch.utils.data.Dataset``; batch with ``DataLoader(..., collate_fn=collate_records)``.

- :func:`read_wfdb` — one WFDB record (``.hea`` + ``.dat``/``.mat``), calibrated to mV.
- :class:`PTBXL` — PTB-XL at 100/500 Hz, official folds, label views (71 statements,
  super-/sub-classes, the 9 MI types of SelfMIS...). Views: :mod:`ecgfm.data.ptbxl_labels`.
- :class:`CinC2017` — PhysioNet/CinC 2017 single-lead AF data, optionally in 10 s segments.
- :class:`ArrayDataset` — an ``(N, C, T)`` array with explicit ``fs`` and leads.
- :func:`example_record` — PTB-XL record 1, bundled with the package.
- :class:`DeepfakeECG` — synthetic 12-lead ECGs (``ecgfm[synthetic]``).

Reading WFDB files in formats other than 16/61/80/160/24/32 needs ``pip install 'ecgfm[data]'``.
See ``docs/data.md``.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.data._base import ECGDataset, RecordTransform
    from ecgfm.data.array import ArrayDataset
    from ecgfm.data.cinc2017 import CINC2017_CLASSES, CinC2017
    from ecgfm.data.collate import ECGBatch, collate_records
    from ecgfm.data.example import example_record
    from ecgfm.data.ptbxl import PTBXL, PTBXL_SPLITS
    from ecgfm.data.ptbxl_labels import PTBXL_LABEL_VIEWS, PTBXL_MI_TYPES
    from ecgfm.data.synthetic import DeepfakeECG
    from ecgfm.data.wfdb_reader import read_wfdb

__getattr__, __dir__ = attach(
    __name__,
    attributes={
        "ecgfm.data._base": ["ECGDataset", "RecordTransform"],
        "ecgfm.data.array": ["ArrayDataset"],
        "ecgfm.data.cinc2017": ["CINC2017_CLASSES", "CinC2017"],
        "ecgfm.data.collate": ["ECGBatch", "collate_records"],
        "ecgfm.data.example": ["example_record"],
        "ecgfm.data.ptbxl": ["PTBXL", "PTBXL_SPLITS"],
        "ecgfm.data.ptbxl_labels": ["PTBXL_LABEL_VIEWS", "PTBXL_MI_TYPES"],
        "ecgfm.data.synthetic": ["DeepfakeECG"],
        "ecgfm.data.wfdb_reader": ["read_wfdb"],
    },
)

__all__ = [
    "CINC2017_CLASSES",
    "PTBXL",
    "PTBXL_LABEL_VIEWS",
    "PTBXL_MI_TYPES",
    "PTBXL_SPLITS",
    "ArrayDataset",
    "CinC2017",
    "DeepfakeECG",
    "ECGBatch",
    "ECGDataset",
    "RecordTransform",
    "collate_records",
    "example_record",
    "read_wfdb",
]
