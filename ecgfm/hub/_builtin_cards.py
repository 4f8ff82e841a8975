"""Built-in pretrained entries (``BUILTIN_CARDS``), registered on first use of the registry.

Only real weights are listed: third-party checkpoints loaded through the converters, and
weights trained by ecgfm, each with its file in ``weights/`` (and its sha256), the data and
compute that produced it, and only metrics measured with ``ecgfm probe`` (with the command and
the baselines measured the same way). No entry ever points at random weights.

- ``ecgfounder-12lead`` / ``ecgfounder-lead1``: the released ECGFounder Net1D models (MIT),
  downloaded from the Hugging Face Hub and converted; the 150-class head is dropped (the
  embedding is the time mean of the last stage, 1024-d). Their sha256 is not recorded: the
  files were never available to ecgfm's build environment to hash.
- ``st-mem-vit-base``: the released ST-MEM ViT-B encoder. CC BY-NC 4.0: never bundled, never
  hosted; the user passes the ``encoder.pth`` they downloaded (``checkpoint_path=``).
- ``selfmis-lead1``: the lead-I SelfMIS student trained by ecgfm on CPU (bundled, bf16).
"""

from __future__ import annotations

from ecgfm.hub._card import InputSpec, Metric, PretrainedCard, TrainingInfo, WeightsSpec
from ecgfm.leads import CANONICAL_LEADS

__all__: list[str] = []

_ECGFOUNDER_PAPER = (
    "Jun Li, Aaron D. Aguirre, Valdery Moura Junior, Jiarui Jin, Che Liu, Lanhai Zhong, Chenxi "
    "Sun, Gari Clifford, M. Brandon Westover, Shenda Hong. An Electrocardiogram Foundation Model "
    "Built on over 10 Million Recordings. NEJM AI 2(7), 2025. doi:10.1056/AIoa2401033"
)
_ECGFOUNDER_TRAINING = TrainingInfo(
    data=(
        "Harvard-Emory ECG Database (HEEDB): over 10 million ECGs with 150 expert-reviewed "
        "labels (supervised multi-label pre-training by the ECGFounder authors)"
    ),
    steps=None,
    compute="not reported in the released checkpoint",
    recipe="supervised 150-label classification; see the paper (not retrained by ecgfm)",
)
_ECGFOUNDER_DESC = (
    "ECGFounder Net1D ({leads}), the official checkpoint converted to ecgfm (the 150-class head "
    "is dropped). Embedding: time mean of the last stage (1024-d). The SelfMIS backbone and "
    "initialisation."
)

_ECGFOUNDER_BASE = {
    "embed_dim": 1024,
    "license": "MIT",
    "paper": _ECGFOUNDER_PAPER,
    "training": _ECGFOUNDER_TRAINING,
    "tags": ("ecgfounder", "net1d", "supervised"),
}

ECGFOUNDER_12LEAD = PretrainedCard(
    name="ecgfounder-12lead",
    arch="net1d_ecgfounder",
    arch_args={"n_classes": 0},
    input=InputSpec(fs=500.0, leads=CANONICAL_LEADS, length=5000, preset="ecgfounder"),
    num_params=30_665_264,
    weights=WeightsSpec(
        format="ecgfounder",
        hf_repo_id="PKUDigitalHealth/ECGFounder",
        hf_filename="12_lead_ECGFounder.pth",
    ),
    description=_ECGFOUNDER_DESC.format(leads="12 leads"),
    **_ECGFOUNDER_BASE,  # type: ignore[arg-type]
)

ECGFOUNDER_LEAD1 = PretrainedCard(
    name="ecgfounder-lead1",
    arch="net1d_ecgfounder_lead1",
    arch_args={"n_classes": 0},
    input=InputSpec(fs=500.0, leads=("I",), length=5000, preset="ecgfounder"),
    num_params=30_654_000,
    weights=WeightsSpec(
        format="ecgfounder",
        hf_repo_id="PKUDigitalHealth/ECGFounder",
        hf_filename="1_lead_ECGFounder.pth",
    ),
    description=_ECGFOUNDER_DESC.format(leads="lead I"),
    **_ECGFOUNDER_BASE,  # type: ignore[arg-type]
)

ST_MEM_VIT_BASE = PretrainedCard(
    name="st-mem-vit-base",
    arch="st_mem_vit_base",
    arch_args={},
    input=InputSpec(fs=250.0, leads=CANONICAL_LEADS, length=2250, preset="st_mem"),
    embed_dim=768,
    num_params=85_150_614,
    weights=WeightsSpec(
        format="st-mem",
        redistributable=False,
        user_file_hint=(
            "download the pre-trained encoder.pth linked from the README of the official "
            "repository github.com/bakqui/ST-MEM (licence CC BY-NC 4.0: non-commercial use; "
            "ecgfm may not re-host it)"
        ),
    ),
    license="CC BY-NC 4.0",
    paper=(
        "Yeongyeon Na, Minje Park, Yunwon Tae, Sunghoon Joo. Guiding Masked Representation "
        "Learning to Capture Spatio-Temporal Relationship of Electrocardiogram. ICLR 2024."
    ),
    training=TrainingInfo(
        data="Chapman + Ningbo + CODE-15: 188,480 12-lead ECGs, 250 Hz",
        steps=None,
        compute="800 epochs, batch 2048 (as reported by the authors)",
        recipe="masked patch reconstruction (75% per lead), MSE with norm_pix_loss",
    ),
    description=(
        "ST-MEM ViT-B/75 encoder (official weights, supplied by the user). Embedding: mean "
        "of the lead/patch tokens followed by LayerNorm (768-d)."
    ),
    tags=("st-mem", "vit", "masked-modelling", "non-commercial"),
)

# ---- weights trained by ecgfm (files in weights/, see weights/README.md) ----------------------

_SELFMIS_PAPER = (
    "Self-alignment learning to improve myocardial infarction detection from single-lead ECG "
    "(SelfMIS), anonymous authors, under double-blind review. ecgfm re-implements the method "
    "(Net1D student, frozen 12-lead teacher, SigLIP loss on self-cut lead I)."
)

_PROBE_NAMES = {
    "linear": "linear probe (SelfMIS protocol)",
    "logistic": "logistic regression C=0.1",
    "logistic-cv": "logistic regression C=0.1, 5-fold CV",
    "supervised": "supervised from scratch (linear head, end to end)",
}
_RANDOM = "random weights, same architecture (seed 0)"
_SUPERVISED_SMALL = "supervised from scratch: net1d_small (0.41 M parameters), 20 min budget"
_SUPERVISED_12LEAD = (
    "supervised from scratch: net1d_small (0.41 M parameters, 12 leads, this entry's preset)"
)
_PTBXL_DATA = "PTB-XL subset (fallback folds: train 1-7, val 8, test 9)"
_PTBXL_TEST = "test split, 232 records"


def _probe_metrics(
    task: str,
    dataset: str,
    command: str,
    rows: tuple[tuple[str, str, str, float, float, float], ...],
) -> tuple[Metric, ...]:
    """Macro-AUROC metrics of one ``ecgfm probe`` command.

    Each row is ``(probe, evaluated records, model, value, ci_low, ci_high)`` copied from the
    command's ``--json`` report (``model`` empty for the entry itself, else the baseline).
    """
    return tuple(
        Metric(
            task=f"{task}, {_PROBE_NAMES[probe]}",
            metric="macro AUROC",
            value=value,
            ci95=(low, high),
            dataset=dataset,
            split=split,
            command=command,
            model=model,
        )
        for probe, split, model, value, low, high in rows
    )


def _probe_command(
    name: str,
    task: str,
    probe: str,
    baselines: str,
    *,
    leads: str | None = None,
    supervised_minutes: int | None = None,
) -> str:
    """The ``ecgfm probe`` command line a card cites (data under ``../shared/data``)."""
    root = "../shared/data/cinc2017" if task == "cinc2017" else "../shared/data/ptbxl"
    parts = ["ecgfm probe", name, "--task", task, "--data-root", root]
    if leads is not None:
        parts += ["--leads", leads]
    parts += ["--probe", probe, "--baselines", baselines]
    if supervised_minutes is not None:
        parts += ["--supervised-crop-seconds", "5", "--supervised-max-minutes"]
        parts.append(str(supervised_minutes))
    return " ".join(parts)


_Ci = tuple[float, float, float]  # value, ci_low, ci_high


def _ptbxl_12lead_metrics(
    entry: str,
    superclass: tuple[_Ci, _Ci, _Ci, _Ci],
    supervised: tuple[str, float, float, float],
    mi: tuple[_Ci, _Ci, _Ci, _Ci],
    mi_supervised: tuple[str, float, float, float],
) -> tuple[Metric, ...]:
    """The PTB-XL probes every 12-lead entry reports, in card order.

    ``superclass`` / ``mi``: (linear entry, linear random, logistic entry, logistic random)
    from ``--probe linear,logistic --baselines random``; ``supervised`` / ``mi_supervised``:
    (how the run went, value, low, high) of the net1d_small baseline from ``--probe linear
    --baselines supervised`` with a 15 min budget on the super-classes / the MI types.
    """

    def random_rows(ci: tuple[_Ci, _Ci, _Ci, _Ci]) -> tuple:
        models = ("", _RANDOM, "", _RANDOM)
        probes = ("linear", "linear", "logistic", "logistic")
        return tuple((p, _PTBXL_TEST, m, *c) for p, m, c in zip(probes, models, ci, strict=True))

    def supervised_row(run: tuple[str, float, float, float]) -> tuple:
        how, *ci = run
        return (("supervised", _PTBXL_TEST, f"{_SUPERVISED_12LEAD}, {how}", *ci),)

    def command(task: str, probe: str, baselines: str, minutes: int | None = None) -> str:
        return _probe_command(entry, task, probe, baselines, leads="12", supervised_minutes=minutes)

    return (
        *_probe_metrics(
            "PTB-XL 5 super-classes, 12 leads",
            _PTBXL_DATA,
            command("ptbxl-superclass", "linear,logistic", "random"),
            random_rows(superclass),
        ),
        *_probe_metrics(
            "PTB-XL 5 super-classes, 12 leads",
            _PTBXL_DATA,
            command("ptbxl-superclass", "linear", "supervised", 15),
            supervised_row(supervised),
        ),
        *_probe_metrics(
            "PTB-XL 9 MI types (7 with test positives), 12 leads",
            _PTBXL_DATA,
            command("ptbxl-mi", "linear,logistic", "random"),
            random_rows(mi),
        ),
        *_probe_metrics(
            "PTB-XL 9 MI types (7 with test positives), 12 leads",
            _PTBXL_DATA,
            command("ptbxl-mi", "linear", "supervised", 15),
            supervised_row(mi_supervised),
        ),
    )


_SELFMIS_LEAD1_METRICS = (
    *_probe_metrics(
        "CinC 2017 4-class (N/A/O/~) per record (mean of its 10 s segments), lead I",
        "PhysioNet/CinC 2017 (shared half; record split ecgfm/eval/splits/cinc2017_v3.json)",
        _probe_command("selfmis-lead1", "cinc2017", "linear,logistic,logistic-cv", "random"),
        (
            ("linear", "test split, 854 records", "", 0.8139, 0.7900, 0.8382),
            ("linear", "test split, 854 records", _RANDOM, 0.8207, 0.7978, 0.8435),
            ("logistic", "test split, 854 records", "", 0.8877, 0.8692, 0.9050),
            ("logistic", "test split, 854 records", _RANDOM, 0.8830, 0.8635, 0.9006),
            (
                "logistic-cv",
                "5-fold CV over all 4273 records (train+val+test)",
                "",
                0.8998,
                0.8927,
                0.9067,
            ),
            (
                "logistic-cv",
                "5-fold CV over all 4273 records (train+val+test)",
                _RANDOM,
                0.8892,
                0.8809,
                0.8969,
            ),
        ),
    ),
    *_probe_metrics(
        "CinC 2017 4-class (N/A/O/~) per record (mean of its 10 s segments), lead I",
        "PhysioNet/CinC 2017 (shared half; record split ecgfm/eval/splits/cinc2017_v3.json)",
        _probe_command("selfmis-lead1", "cinc2017", "linear", "supervised", supervised_minutes=30),
        (
            (
                "supervised",
                "test split, 854 records",
                "supervised from scratch: net1d_small (0.41 M parameters), 14 epochs, stopped "
                "by the 30 min budget, best epoch 13",
                0.9300,
                0.9163,
                0.9424,
            ),
        ),
    ),
    *_probe_metrics(
        "PTB-XL 5 super-classes, lead I",
        _PTBXL_DATA,
        _probe_command("selfmis-lead1", "ptbxl-superclass", "linear,logistic", "random"),
        (
            ("linear", _PTBXL_TEST, "", 0.8241, 0.7895, 0.8567),
            ("linear", _PTBXL_TEST, _RANDOM, 0.8085, 0.7682, 0.8435),
            ("logistic", _PTBXL_TEST, "", 0.8194, 0.7834, 0.8536),
            ("logistic", _PTBXL_TEST, _RANDOM, 0.7910, 0.7525, 0.8247),
        ),
    ),
    *_probe_metrics(
        "PTB-XL 5 super-classes, lead I",
        _PTBXL_DATA,
        "ecgfm probe random:net1d_ecgfounder_lead1 --task ptbxl-superclass --data-root "
        "../shared/data/ptbxl --probe linear --baselines supervised --supervised-crop-seconds 5 "
        "--supervised-max-minutes 20 (5 epochs ran; still improving)",
        (("supervised", _PTBXL_TEST, _SUPERVISED_SMALL, 0.787, 0.739, 0.828),),
    ),
    *_probe_metrics(
        "PTB-XL 9 MI types (7 with test positives), lead I",
        _PTBXL_DATA,
        _probe_command("selfmis-lead1", "ptbxl-mi", "linear,logistic", "random"),
        (
            ("linear", _PTBXL_TEST, "", 0.5781, 0.4706, 0.7218),
            ("linear", _PTBXL_TEST, _RANDOM, 0.5823, 0.4912, 0.6589),
            ("logistic", _PTBXL_TEST, "", 0.6778, 0.6003, 0.7598),
            ("logistic", _PTBXL_TEST, _RANDOM, 0.6207, 0.4980, 0.7212),
        ),
    ),
    *_probe_metrics(
        "PTB-XL 9 MI types (7 with test positives), lead I",
        _PTBXL_DATA,
        "ecgfm probe random:net1d_ecgfounder_lead1 --task ptbxl-mi --data-root "
        "../shared/data/ptbxl --probe linear --baselines supervised --supervised-crop-seconds 5 "
        "--supervised-max-minutes 20 (14 epochs ran)",
        (("supervised", _PTBXL_TEST, _SUPERVISED_SMALL, 0.645, 0.505, 0.712),),
    ),
)

SELFMIS_LEAD1 = PretrainedCard(
    name="selfmis-lead1",
    arch="net1d_ecgfounder_lead1",
    arch_args={"n_classes": 0},
    input=InputSpec(fs=500.0, leads=("I",), length=5000, preset="selfmis"),
    embed_dim=1024,
    num_params=30_654_000,
    weights=WeightsSpec(
        format="ecgfm",
        file="selfmis-lead1.safetensors",
        sha256="0928a6ddbf74dc660f4c5d946dd9e8d827c125e9fee9a3f61bb932b9613d1071",
        storage_dtype="bfloat16",
    ),
    license="MIT",
    paper=_SELFMIS_PAPER,
    training=TrainingInfo(
        data=(
            "19,200 ECGs seen (600 steps x 32): 1,191 real 12-lead PTB-XL records (strat "
            "folds 1-7 of the shared subset, 100 Hz copy upsampled to 500 Hz) + 2,000 "
            "synthetic 12-lead ECGs from deepfake-ecg (seed 0), random 5 s crops; 128 "
            "further fold 1-7 records held aside for retrieval validation. Teacher: a "
            "half-width 12-lead Net1D (8.5 M parameters) trained supervised on 48 PTB-XL "
            "statements of the same fold 1-7 records (labels used for the teacher only; "
            "artifacts/selfmis-dev/teacher.safetensors)"
        ),
        steps=600,
        compute=(
            "2,033 s wall-clock on 2 CPU processes x 1 thread (2-core Intel Xeon VM, "
            "shared with other jobs, no GPU, fp32); the teacher: 1,258 s on the same machine"
        ),
        recipe=(
            "SigLIP (scale 1/0.07, bias 0, fixed) between the lead-I student (1024->512 "
            "projection head, not shipped) and the frozen teacher's 12-lead embedding of "
            "the same crop; AdamW lr 2e-4, weight decay 0.1, 40 warm-up steps, cosine, "
            "batch 2 x 16, clip 1.0, seed 0; random student init (no ECGFounder weights). "
            "Held-aside retrieval lead I -> 12-lead at the end: R@1 0.27, R@5 0.68, R@10 "
            "0.89 (chance 0.008). Commands: artifacts/selfmis-dev/README.md"
        ),
    ),
    description=(
        "SelfMIS lead-I encoder: Net1D in the exact ECGFounder configuration (lead I, "
        "500 Hz, 10 s), aligned to a frozen 12-lead teacher with the SigLIP loss on "
        "self-cut lead I. Embedding: time mean of the last stage (1024-d). A small, "
        "CPU-trained model: read the metrics and limitations before relying on it."
    ),
    metrics=_SELFMIS_LEAD1_METRICS,
    tags=("selfmis", "net1d", "single-lead", "contrastive", "trained-by-ecgfm"),
    limitations=(
        "Trained here on CPU with 19,200 ECGs (1,191 real records + 2,000 synthetic), not "
        "initialised from ECGFounder (unavailable offline) and aligned to a small "
        "supervised teacher instead of the 12-lead ECGFounder: far below the paper's "
        "setting. It does NOT reach the targets set for it (CinC 2017 >= 0.93 macro AUROC "
        "and +0.05 over random weights). Paired differences against the random-weight "
        "baseline on the same records (95 % paired bootstrap CIs, artifacts/paired/): "
        "CinC 2017 logistic 5-fold CV +0.011 [+0.005, +0.016] (better beyond noise, but a "
        "fifth of the +0.05 asked), logistic +0.005 [-0.009, +0.018], linear -0.007 "
        "[-0.021, +0.007]; PTB-XL lead I super-classes logistic +0.028 [+0.004, +0.052], "
        "linear +0.016 [-0.005, +0.040]; MI types within noise (few positives per type). "
        "A 0.41 M-parameter Net1D trained end to end on the "
        "CinC training records for 30 minutes reaches 0.930 on the same test records: for "
        "a labelled single-lead task of this size, supervised training beats this frozen "
        "encoder. SelfMIS ablations on CinC 2017 (logistic 5-fold CV): no alignment "
        "0.889, random frozen teacher 0.863, this teacher 0.900, 2.5x longer 0.898, "
        "whole 10 s windows instead of 5 s crops 0.902, a rhythm-only teacher 0.904 "
        "(runs, commands and PTB-XL numbers: artifacts/selfmis-dev/README.md): the "
        "teacher is the bottleneck. PTB-XL numbers use the shared subset's fallback folds "
        "(test = fold 9, 100 Hz upsampled) and are not comparable with published fold-10 "
        "numbers. Use it as a reproducible starting point, not as a finished foundation "
        "model."
    ),
)

_TWELVE_LEAD_DATA = (
    "1,191 real 12-lead PTB-XL records (strat folds 1-7 of the shared subset, 100 Hz copy "
    "resampled to the preset's rate) + 2,000 synthetic 12-lead ECGs from deepfake-ecg (seed 0, "
    "8 leads generated, 4 derived); 128 further fold 1-7 records held aside for validation. "
    "No labels used. Fold 9 (the probe's test fold) was never seen in pre-training"
)
_HL_PAPER = (
    "Song et al. Foundation models for ECG: leveraging hybrid self-supervised learning for "
    "advanced cardiac diagnostics. KDD 2025 (re-implemented by ecgfm)"
)

_HL_METRICS = _ptbxl_12lead_metrics(
    "hl-vit-p60-d2-w512",
    superclass=(
        (0.8710, 0.8439, 0.8976),
        (0.7383, 0.6946, 0.7797),
        (0.8708, 0.8447, 0.8972),
        (0.7597, 0.7155, 0.8000),
    ),
    supervised=(
        "20 epochs in 2.6 min, best epoch 20",
        0.9139,
        0.8889,
        0.9364,
    ),
    mi=(
        (0.8168, 0.7402, 0.8686),
        (0.4808, 0.4141, 0.6885),
        (0.8672, 0.8006, 0.9048),
        (0.4456, 0.3776, 0.6575),
    ),
    mi_supervised=(
        "16 epochs in 0.9 min (early stopping), best epoch 11",
        0.8188,
        0.763,
        0.8923,
    ),
)

HL_VIT_P60_D2_W512 = PretrainedCard(
    name="hl-vit-p60-d2-w512",
    arch="hl_vit_p60_d2_w512",
    arch_args={},
    input=InputSpec(fs=250.0, leads=CANONICAL_LEADS, length=2500, preset="hl"),
    embed_dim=512,
    num_params=6_674_944,
    weights=WeightsSpec(
        format="ecgfm",
        file="hl-vit-p60-d2-w512.safetensors",
        sha256="d5db25d5100e8706b3a814ae34c8c0d56a566dfb343e606041e640f218bcdc53",
        storage_dtype="bfloat16",
    ),
    license="MIT",
    paper=_HL_PAPER,
    training=TrainingInfo(
        data=f"25,600 ECGs seen (800 steps x 32). {_TWELVE_LEAD_DATA}",
        steps=800,
        compute=(
            "1,235 s wall-clock in one process with 2 threads on a 2-core Intel Xeon VM "
            "(no GPU, fp32), partly shared with a probe job; plus ~80 s of steps redone "
            "after two restarts from the step-200 checkpoint"
        ),
        recipe=(
            "examples/pretrain_hybrid.py: masked L1 reconstruction (75 % of patches) + "
            "patient-level InfoNCE (partner ECG of the same patient when one exists) + "
            "sample-level InfoNCE (two views from the stochastic pool), weights 1:1:1; "
            "AdamW lr 1e-4, betas 0.9/0.95, weight decay 0.05, 60 warm-up steps, cosine, "
            "clip 1.0, batch 32, seed 0. The run was planned for 1,200 steps and shortened "
            "to 800 at step 200 (cosine recomputed for 800 steps from there). Held-aside "
            "validation at the end: masked L1 0.121, view-to-view retrieval R@1 0.97 / R@5 "
            "0.99 over 128 records. Log and commands: artifacts/hl-p60/"
        ),
    ),
    description=(
        "Hybrid Learning (HL) 12-lead encoder: conv-patch ViT (patch 60 samples, depth 2, "
        "width 512; the paper's best HL configuration) pre-trained by ecgfm with the "
        "hybrid reconstruction + patient + sample contrastive loss. Input: 12 leads, "
        "250 Hz, 10 s, mV (no filtering). Embedding: 512-d."
    ),
    metrics=_HL_METRICS,
    tags=("hybrid-learning", "vit", "12-lead", "masked-modelling", "contrastive"),
    limitations=(
        "Pre-trained on CPU for 800 steps (25,600 ECGs from 1,191 real + 2,000 synthetic "
        "records): orders of magnitude less than the paper. Evaluated on two PTB-XL tasks "
        "only (super-classes and MI types, 12 leads, fallback folds of the shared subset: "
        "test = fold 9, 232 records, 100 Hz data resampled; MI types have 1-28 test "
        "positives each, so wide CIs): far from a full benchmark. The probe's "
        "training records (folds 1-7) were part of the unlabeled pre-training data. A "
        "small Net1D trained end to end on the probe's labels for 2.6 minutes is better "
        "(0.914 against 0.871 for this frozen encoder's linear probe) on the super-classes "
        "and level with it on the MI types (0.819 against 0.817): use it as a frozen "
        "feature extractor or an initialisation to fine-tune, not as a finished model."
    ),
)

_DUALVIEW_PAPER = (
    "Ali. Impact of view generation strategies on self-supervised dual-view representation "
    "learning for 12-lead ECG (re-implemented by ecgfm)"
)
# The training-time preset: Dual-View z-score per lead, resampled to 100 Hz, 5 s windows (the
# CMSC view length; each 10 s record gives two windows whose embeddings ``embed`` averages).
_DUALVIEW_100HZ_5S = {
    "name": "dualview",
    "fs": 100.0,
    "length": 500,
    "leads": list(CANONICAL_LEADS),
    "filters": {"type": "Compose", "steps": []},
    "normalize": {
        "type": "Compose",
        "steps": [{"type": "ZScore", "axis_mode": "lead", "eps": 1e-08}],
    },
    "resample_method": "polyphase",
    "min_length": None,
    "num_spaced": 3,
    "nan_policy": "raise",
    "description": (
        "Dual-View: 12 leads resampled to 100 Hz, z-score per window and lead, 5 s windows "
        "(the CMSC view length of the dualview-small-cmsc entry)"
    ),
}

_DUALVIEW_METRICS = _ptbxl_12lead_metrics(
    "dualview-small-cmsc",
    superclass=(
        (0.8318, 0.7988, 0.8649),
        (0.7554, 0.7123, 0.7997),
        (0.8326, 0.7992, 0.8664),
        (0.8181, 0.7833, 0.8530),
    ),
    supervised=(
        "12 epochs in 1.1 min (early stopping), best epoch 7",
        0.9069,
        0.8822,
        0.9289,
    ),
    mi=(
        (0.6811, 0.6306, 0.8238),
        (0.6685, 0.5745, 0.8400),
        (0.6294, 0.5664, 0.7703),
        (0.6939, 0.6074, 0.8093),
    ),
    mi_supervised=(
        "18 epochs in 1.1 min (early stopping), best epoch 13",
        0.8701,
        0.8317,
        0.9453,
    ),
)

DUALVIEW_SMALL_CMSC = PretrainedCard(
    name="dualview-small-cmsc",
    arch="dualview_small",
    arch_args={"input_length": 500},
    input=InputSpec(
        fs=100.0,
        leads=CANONICAL_LEADS,
        length=500,
        preset="dualview",
        preset_config=_DUALVIEW_100HZ_5S,
    ),
    embed_dim=128,
    num_params=1_347_344,
    weights=WeightsSpec(
        format="ecgfm",
        file="dualview-small-cmsc.safetensors",
        sha256="e18ef36b7be0e3f1df8f184b2e41177667de31ac82eaa07638aa098c2d1fc022",
        storage_dtype="bfloat16",
    ),
    license="MIT",
    paper=_DUALVIEW_PAPER,
    training=TrainingInfo(
        data=f"25,600 ECGs seen (800 steps x 32). {_TWELVE_LEAD_DATA}",
        steps=800,
        compute=(
            "2,737 s wall-clock in one process with 2 threads on a 2-core Intel Xeon VM "
            "(no GPU, fp32), shared with an ST-MEM run and probe jobs"
        ),
        recipe=(
            "examples/pretrain_dualview.py --model dualview_small --views cmsc --fs 100: "
            "two non-overlapping 5 s halves of each 10 s record, random lead masking "
            "p = 0.5 per view, InfoNCE (temperature 0.1) on a 128-wide projection head "
            "(not shipped); AdamW lr 3e-4, weight decay 0.05, 60 warm-up steps, cosine, "
            "clip 1.0, batch 32, seed 0. Held-aside validation at the end: half-to-half "
            "retrieval R@1 0.14 / R@5 0.39 over 128 records (chance R@1 0.008). Log and "
            "commands: artifacts/dualview-small-cmsc/"
        ),
    ),
    description=(
        "Dual-View transformer (small: width 128, 4 heads, time and channel streams of "
        "depth 2, one bidirectional cross-attention block) pre-trained by ecgfm with the "
        "paper's best view strategy, CMSC + random lead masking. Input: 12 leads at "
        "100 Hz in 5 s windows (longer records are cut into windows whose embeddings are "
        "averaged). Embedding: 128-d. Attention maps: see docs/models.md."
    ),
    metrics=_DUALVIEW_METRICS,
    tags=("dual-view", "transformer", "12-lead", "contrastive", "cmsc"),
    limitations=(
        "Small model (1.3 M parameters) pre-trained on CPU for 800 steps (25,600 ECGs "
        "from 1,191 real + 2,000 synthetic records), at 100 Hz rather than the paper's "
        "500 Hz CMSC setting to fit the compute. Clearly above its random initialisation "
        "with the linear probe on the PTB-XL super-classes, within noise of it with "
        "logistic regression, and no better than it on the PTB-XL MI types (few positives "
        "per type); evaluated on the fallback folds of the shared subset (232 test "
        "records); a small Net1D trained end to end on the probe's labels for one "
        "minute is better (0.907 against 0.832; MI types 0.870 against 0.681). Training "
        "z-scored each 10 s record before splitting it into halves, whereas embed z-scores "
        "each 5 s window (nearly the same statistics). The probe's training records "
        "(folds 1-7) were part of the unlabeled pre-training data."
    ),
)

_ST_MEM_TINY_METRICS = _ptbxl_12lead_metrics(
    "st-mem-tiny",
    superclass=(
        (0.8334, 0.7980, 0.8638),
        (0.7998, 0.7659, 0.8325),
        (0.8460, 0.8114, 0.8770),
        (0.8343, 0.8015, 0.8618),
    ),
    supervised=(
        "15 epochs in 1.7 min (early stopping), best epoch 10",
        0.9170,
        0.8931,
        0.9395,
    ),
    mi=(
        (0.7387, 0.6941, 0.8145),
        (0.5391, 0.4622, 0.6540),
        (0.7625, 0.6953, 0.8660),
        (0.7078, 0.5983, 0.7900),
    ),
    mi_supervised=(
        "14 epochs in 1.6 min (early stopping), best epoch 9",
        0.9196,
        0.8944,
        0.9583,
    ),
)

ST_MEM_TINY = PretrainedCard(
    name="st-mem-tiny",
    arch="st_mem_vit_small",
    arch_args={"embed_dim": 192, "depth": 6, "num_heads": 3, "mlp_dim": 768},
    input=InputSpec(fs=250.0, leads=CANONICAL_LEADS, length=2250, preset="st_mem"),
    embed_dim=192,
    num_params=2_693_334,
    weights=WeightsSpec(
        format="ecgfm",
        file="st-mem-tiny.safetensors",
        sha256="e2ac5e398f5c3c871c3242f62655e174d63760b6d81f37027c8e872c4009373b",
        storage_dtype="bfloat16",
    ),
    license="MIT",
    paper=ST_MEM_VIT_BASE.paper + " (re-implemented and trained by ecgfm; not their weights)",
    training=TrainingInfo(
        data=f"115,200 ECGs seen (3,600 steps x 32). {_TWELVE_LEAD_DATA}",
        steps=3600,
        compute=(
            "4,283 s wall-clock in one process with 1-2 threads on a 2-core Intel Xeon VM "
            "(no GPU, fp32), partly shared with other training and probe jobs"
        ),
        recipe=(
            "examples/pretrain_stmem.py with a CPU-sized ViT (width 192, depth 6, 3 heads, "
            "MLP 768) and lead-wise decoder (128 wide, 2 blocks): 75 % of each lead's "
            "patches masked, MSE on per-patch normalised targets; AdamW lr 5e-4, betas "
            "0.9/0.95, weight decay 0.01, 60 warm-up steps, clip 1.0, batch 32, seed 0. "
            "Three legs resumed from checkpoints, each a fresh cosine to its end (steps "
            "0-800, 800-1,600, 1,600-3,600: warm restarts). Held-aside masked-patch MSE "
            "(1.0 = predicting each patch's mean): 0.963 at step 800, 0.942 at 1,600, 0.757 "
            "at 3,600. Log and commands: artifacts/stmem-tiny/"
        ),
    ),
    description=(
        "ST-MEM 12-lead encoder in a CPU-sized configuration (ViT width 192, depth 6; "
        "75-sample patches at 250 Hz, lead and [SEP] embeddings), pre-trained by ecgfm with "
        "spatio-temporal masked ECG modelling. Input: 12 leads, 250 Hz, 9 s windows. "
        "Embedding: 192-d."
    ),
    metrics=_ST_MEM_TINY_METRICS,
    tags=("st-mem", "vit", "12-lead", "masked-modelling"),
    limitations=(
        "Tiny model (2.7 M parameters, not the paper's ViT-B) pre-trained on CPU with "
        "115,200 ECGs from 1,191 real + 2,000 synthetic records, with two warm restarts of "
        "the schedule; the reconstruction loss was still falling steeply at the end. Better "
        "than its random initialisation beyond noise only with the linear probe (paired "
        "differences on the same records: MI types +0.200 [+0.066, +0.316], super-classes "
        "+0.034 [+0.008, +0.060]; artifacts/paired/); with logistic regression the gains "
        "are within noise; a small Net1D trained end to end on the probe's labels is "
        "better (0.917 against 0.833; MI types 0.920 against 0.739). Evaluated on the "
        "fallback folds of the shared PTB-XL subset (232 test records); the probe's "
        "training records (folds 1-7) were part of the unlabeled pre-training data."
    ),
)

# Registered by ecgfm.hub._pretrained_registry on first use (this module imports no registry).
BUILTIN_CARDS: tuple[PretrainedCard, ...] = (
    ECGFOUNDER_12LEAD,
    ECGFOUNDER_LEAD1,
    ST_MEM_VIT_BASE,
    SELFMIS_LEAD1,
    HL_VIT_P60_D2_W512,
    DUALVIEW_SMALL_CMSC,
    ST_MEM_TINY,
)
