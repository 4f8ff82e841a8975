"""Built-in pretrained entries. Imported (and thereby registered) by ``ecgfm.hub``.

Only real weights are listed: third-party checkpoints loaded through the converters. Entries
for weights trained by ecgfm are added here together with their file in ``weights/`` (with its
sha256) once they exist; no entry ever points at random weights.

- ``ecgfounder-12lead`` / ``ecgfounder-lead1``: the released ECGFounder Net1D models (MIT),
  downloaded from the Hugging Face Hub and converted; the 150-class head is dropped (the
  embedding is the time mean of the last stage, 1024-d). Their sha256 is not recorded: the
  files were never available to ecgfm's build environment to hash.
- ``st-mem-vit-base``: the released ST-MEM ViT-B encoder. CC BY-NC 4.0: never bundled, never
  hosted; the user passes the ``encoder.pth`` they downloaded (``checkpoint_path=``).
"""

from __future__ import annotations

from ecgfm.hub._card import InputSpec, PretrainedCard, TrainingInfo, WeightsSpec
from ecgfm.hub._pretrained_registry import register_pretrained
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

ECGFOUNDER_12LEAD = register_pretrained(
    PretrainedCard(
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
)

ECGFOUNDER_LEAD1 = register_pretrained(
    PretrainedCard(
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
)

ST_MEM_VIT_BASE = register_pretrained(
    PretrainedCard(
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
)
