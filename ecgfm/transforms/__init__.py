"""Preprocessing steps, presets, view generators and augmentations.

- :mod:`ecgfm.transforms.functional` — resample, filters, baseline, z-score, crop/pad on
  numpy or torch arrays.
- :mod:`ecgfm.transforms.preprocessing` — the same as composable, serialisable steps
  ``step(x, fs, leads) -> (x, fs, leads)``; :class:`Compose` chains them.
- :mod:`ecgfm.transforms.presets` — the official pipelines (ECGFounder, ST-MEM, SelfMIS, HL,
  Dual-View) as named presets that travel with pretrained weights.
- :mod:`ecgfm.transforms.views` — view generators (SelfCut, CMSC, Interleave, RLM, Stochastic).
- :mod:`ecgfm.transforms.augment` — random augmentations, batched and seeded; an
  :class:`AugmentationPipeline` applies each op with its own probability.
- :func:`set_fast_paths` / :func:`get_fast_paths` — the one switch of the CPU fast paths of
  the views and augmentations (on by default; bit-identical results either way).
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.transforms import functional
    from ecgfm.transforms._fast_paths import get_fast_paths, set_fast_paths
    from ecgfm.transforms.augment import (
        AddSine,
        AmplitudeScale,
        Augmentation,
        AugmentationPipeline,
        BaselineWander,
        Cutout,
        Flip,
        GaussianNoise,
        LeadErase,
        PartialSine,
        PartialWhiteNoise,
        PowerlineNoise,
        RandomBandPass,
        RandomDrop,
        RemapAugmentation,
        TimeCrop,
        TimeShift,
        TimeWarp,
        artifact_ops,
        dual_view_ops,
        moco_ops,
    )
    from ecgfm.transforms.preprocessing import (
        BandPass,
        Compose,
        Crop,
        FitLength,
        HighPass,
        LowPass,
        Notch,
        Pad,
        RemoveBaseline,
        RepairNonFinite,
        Resample,
        SelectLeads,
        Step,
        ZScore,
    )
    from ecgfm.transforms.presets import Preset, UnknownPresetError, get_preset, list_presets
    from ecgfm.transforms.views import (
        CMSC,
        Interleave,
        MultiView,
        RandomLeadMasking,
        SelfCut,
        Stochastic,
        View,
        ViewGenerator,
    )
    from ecgfm.transforms.views_data import ViewCollate, ViewDataset, collate_views

__getattr__, __dir__ = attach(
    __name__,
    submodules=["functional"],
    attributes={
        "ecgfm.transforms._fast_paths": ["get_fast_paths", "set_fast_paths"],
        "ecgfm.transforms.augment": [
            "AddSine",
            "AmplitudeScale",
            "Augmentation",
            "AugmentationPipeline",
            "BaselineWander",
            "Cutout",
            "Flip",
            "GaussianNoise",
            "LeadErase",
            "PartialSine",
            "PartialWhiteNoise",
            "PowerlineNoise",
            "RandomBandPass",
            "RandomDrop",
            "RemapAugmentation",
            "TimeCrop",
            "TimeShift",
            "TimeWarp",
            "artifact_ops",
            "dual_view_ops",
            "moco_ops",
        ],
        "ecgfm.transforms.preprocessing": [
            "BandPass",
            "Compose",
            "Crop",
            "FitLength",
            "HighPass",
            "LowPass",
            "Notch",
            "Pad",
            "RemoveBaseline",
            "RepairNonFinite",
            "Resample",
            "SelectLeads",
            "Step",
            "ZScore",
        ],
        "ecgfm.transforms.presets": ["Preset", "UnknownPresetError", "get_preset", "list_presets"],
        "ecgfm.transforms.views": [
            "CMSC",
            "Interleave",
            "MultiView",
            "RandomLeadMasking",
            "SelfCut",
            "Stochastic",
            "View",
            "ViewGenerator",
        ],
        "ecgfm.transforms.views_data": ["ViewCollate", "ViewDataset", "collate_views"],
    },
)

__all__ = [
    "CMSC",
    "AddSine",
    "AmplitudeScale",
    "Augmentation",
    "AugmentationPipeline",
    "BandPass",
    "BaselineWander",
    "Compose",
    "Crop",
    "Cutout",
    "FitLength",
    "Flip",
    "GaussianNoise",
    "HighPass",
    "Interleave",
    "LeadErase",
    "LowPass",
    "MultiView",
    "Notch",
    "Pad",
    "PartialSine",
    "PartialWhiteNoise",
    "PowerlineNoise",
    "Preset",
    "RandomBandPass",
    "RandomDrop",
    "RandomLeadMasking",
    "RemapAugmentation",
    "RemoveBaseline",
    "RepairNonFinite",
    "Resample",
    "SelectLeads",
    "SelfCut",
    "Step",
    "Stochastic",
    "TimeCrop",
    "TimeShift",
    "TimeWarp",
    "UnknownPresetError",
    "View",
    "ViewCollate",
    "ViewDataset",
    "ViewGenerator",
    "ZScore",
    "artifact_ops",
    "collate_views",
    "dual_view_ops",
    "functional",
    "get_fast_paths",
    "get_preset",
    "list_presets",
    "moco_ops",
    "set_fast_paths",
]
