"""Training utilities behind the reference loops in ``examples/`` (see ``docs/training.md``).

- :mod:`~ecgfm.train.schedule` — :class:`WarmupCosine` learning-rate schedule.
- :mod:`~ecgfm.train.checkpoint` — atomic, exactly resumable checkpoints; warm starts.
- :mod:`~ecgfm.train.export` — :class:`EncoderExport`: the trained encoder, written by ``fit``
  as a ``save_pretrained`` directory.
- :mod:`~ecgfm.train.ddp` — ``torchrun`` setup (gloo on CPU, nccl on CUDA), DDP.
- :mod:`~ecgfm.train.sampler` — :class:`StepSampler`: resumable, rank-sharded batches.
- :mod:`~ecgfm.train.pretrain_data` — PTB-XL + deepfake-ecg records, preprocessed once, cached.
- :mod:`~ecgfm.train.single_lead` — single-lead recordings of any length (CinC 2017, lead I
  of PTB-XL) and the two views of CLOCS CMSC.
- :mod:`~ecgfm.train.teacher_cache` — SelfMIS teacher embeddings computed once.
- :mod:`~ecgfm.train.retrieval` — R@k retrieval and kNN accuracy.
- :mod:`~ecgfm.train.objectives` — model + loss modules for DDP.
- :mod:`~ecgfm.train.loop` — :func:`fit`: the shared optimisation loop.
- :mod:`~ecgfm.train.encoders` — :func:`load_encoder` for teachers and initialisations.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.train.checkpoint import export_encoder, load_checkpoint, save_checkpoint
    from ecgfm.train.ddp import DistInfo, init_distributed, wrap_ddp
    from ecgfm.train.encoders import load_encoder, state_fingerprint
    from ecgfm.train.export import EncoderExport
    from ecgfm.train.loop import TrainConfig, fit
    from ecgfm.train.objectives import ContrastiveObjective, HybridObjective, SelfMISObjective
    from ecgfm.train.pretrain_data import DataSources, PretrainData
    from ecgfm.train.retrieval import knn_accuracy, retrieval_recall
    from ecgfm.train.sampler import StepSampler, step_generator
    from ecgfm.train.schedule import WarmupCosine, warmup_cosine_factor
    from ecgfm.train.single_lead import SingleLeadRecords
    from ecgfm.train.teacher_cache import teacher_embeddings

__getattr__, __dir__ = attach(
    __name__,
    attributes={
        "ecgfm.train.checkpoint": ["export_encoder", "load_checkpoint", "save_checkpoint"],
        "ecgfm.train.ddp": ["DistInfo", "init_distributed", "wrap_ddp"],
        "ecgfm.train.encoders": ["load_encoder", "state_fingerprint"],
        "ecgfm.train.export": ["EncoderExport"],
        "ecgfm.train.loop": ["TrainConfig", "fit"],
        "ecgfm.train.objectives": ["ContrastiveObjective", "HybridObjective", "SelfMISObjective"],
        "ecgfm.train.pretrain_data": ["DataSources", "PretrainData"],
        "ecgfm.train.retrieval": ["knn_accuracy", "retrieval_recall"],
        "ecgfm.train.sampler": ["StepSampler", "step_generator"],
        "ecgfm.train.schedule": ["WarmupCosine", "warmup_cosine_factor"],
        "ecgfm.train.single_lead": ["SingleLeadRecords"],
        "ecgfm.train.teacher_cache": ["teacher_embeddings"],
    },
)

__all__ = [
    "ContrastiveObjective",
    "DataSources",
    "DistInfo",
    "EncoderExport",
    "HybridObjective",
    "PretrainData",
    "SelfMISObjective",
    "SingleLeadRecords",
    "StepSampler",
    "TrainConfig",
    "WarmupCosine",
    "export_encoder",
    "fit",
    "init_distributed",
    "knn_accuracy",
    "load_checkpoint",
    "load_encoder",
    "retrieval_recall",
    "save_checkpoint",
    "state_fingerprint",
    "step_generator",
    "teacher_embeddings",
    "warmup_cosine_factor",
    "wrap_ddp",
]
