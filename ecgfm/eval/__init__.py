"""Evaluation: probes on frozen embeddings and classification metrics with bootstrap CIs."""

from ecgfm.eval.metrics import (
    BootstrapCI,
    bootstrap_ci,
    macro_auprc,
    macro_auroc,
    macro_f1,
    one_hot,
)
from ecgfm.eval.probe import ProbeResult, linear_probe, logistic_cv_scores, logistic_scores

__all__ = [
    "BootstrapCI",
    "ProbeResult",
    "bootstrap_ci",
    "linear_probe",
    "logistic_cv_scores",
    "logistic_scores",
    "macro_auprc",
    "macro_auroc",
    "macro_f1",
    "one_hot",
]
