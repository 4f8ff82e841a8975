"""Evaluation: tasks on public data, embeddings, probes, metrics with bootstrap CIs, baselines.

- Tasks (:mod:`ecgfm.eval.tasks`): ``get_task("cinc2017" | "ptbxl-superclass" | "ptbxl-mi")``
  ``.load(root)`` -> :class:`TaskData` (signals, per-record labels, fixed splits, notes).
- :func:`embed_task`: per-record embeddings of a task with any encoder, cached on disk.
- :func:`probe_task`: SelfMIS linear probe, logistic regression (fixed split or k-fold CV),
  scored by :func:`score_report` (macro AUROC / AUPRC / F1 with bootstrap CIs, support).
- :func:`compare_reports`: an entry minus a baseline on the same records, with a paired
  bootstrap CI (:func:`paired_bootstrap_diff`).
- Baselines (:mod:`ecgfm.eval.baselines`): random weights, supervised from scratch.

See ``docs/evaluation.md`` and ``ecgfm probe --help``.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.eval.baselines import (
        SupervisedConfig,
        preset_for_arch,
        random_encoder,
        supervised_baseline,
        train_supervised,
    )
    from ecgfm.eval.compare import compare_reports, format_paired, paired_comparisons
    from ecgfm.eval.embed_cache import (
        RecordEmbeddings,
        average_by_record,
        bf16_agreement,
        embed_task,
        model_identity,
    )
    from ecgfm.eval.metrics import (
        BootstrapCI,
        PairedDifference,
        bootstrap_ci,
        macro_auprc,
        macro_auroc,
        macro_f1,
        one_hot,
        paired_bootstrap_diff,
    )
    from ecgfm.eval.probe import ProbeResult, linear_probe, logistic_cv_scores, logistic_scores
    from ecgfm.eval.task_report import ProbeReport, format_reports, probe_task, score_report
    from ecgfm.eval.tasks import (
        CinC2017Task,
        PTBXLTask,
        Task,
        TaskData,
        get_task,
        list_tasks,
        make_cinc2017_split,
        read_split_file,
        write_split_file,
    )

__getattr__, __dir__ = attach(
    __name__,
    attributes={
        "ecgfm.eval.baselines": [
            "SupervisedConfig",
            "preset_for_arch",
            "random_encoder",
            "supervised_baseline",
            "train_supervised",
        ],
        "ecgfm.eval.compare": ["compare_reports", "format_paired", "paired_comparisons"],
        "ecgfm.eval.embed_cache": [
            "RecordEmbeddings",
            "average_by_record",
            "bf16_agreement",
            "embed_task",
            "model_identity",
        ],
        "ecgfm.eval.metrics": [
            "BootstrapCI",
            "PairedDifference",
            "bootstrap_ci",
            "macro_auprc",
            "macro_auroc",
            "macro_f1",
            "one_hot",
            "paired_bootstrap_diff",
        ],
        "ecgfm.eval.probe": [
            "ProbeResult",
            "linear_probe",
            "logistic_cv_scores",
            "logistic_scores",
        ],
        "ecgfm.eval.task_report": ["ProbeReport", "format_reports", "probe_task", "score_report"],
        "ecgfm.eval.tasks": [
            "CinC2017Task",
            "PTBXLTask",
            "Task",
            "TaskData",
            "get_task",
            "list_tasks",
            "make_cinc2017_split",
            "read_split_file",
            "write_split_file",
        ],
    },
)

__all__ = [
    "BootstrapCI",
    "CinC2017Task",
    "PTBXLTask",
    "PairedDifference",
    "ProbeReport",
    "ProbeResult",
    "RecordEmbeddings",
    "SupervisedConfig",
    "Task",
    "TaskData",
    "average_by_record",
    "bf16_agreement",
    "bootstrap_ci",
    "compare_reports",
    "embed_task",
    "format_paired",
    "format_reports",
    "get_task",
    "linear_probe",
    "list_tasks",
    "logistic_cv_scores",
    "logistic_scores",
    "macro_auprc",
    "macro_auroc",
    "macro_f1",
    "make_cinc2017_split",
    "model_identity",
    "one_hot",
    "paired_bootstrap_diff",
    "paired_comparisons",
    "preset_for_arch",
    "probe_task",
    "random_encoder",
    "read_split_file",
    "score_report",
    "supervised_baseline",
    "train_supervised",
    "write_split_file",
]
