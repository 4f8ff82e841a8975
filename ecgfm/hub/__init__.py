"""The pretrained-weight hub: cards, ``from_pretrained``, ``save_pretrained``, ``embed``.

- :class:`PretrainedCard` describes one set of weights (architecture, input contract,
  preprocessing, weights location and checksum, licence, provenance, metrics).
- :func:`list_pretrained` / :func:`pretrained_card` query the registry of pretrained entries
  (kept apart from the architecture registry of :mod:`ecgfm.models`).
- :func:`from_pretrained` loads a directory, an ``hf-hub:`` id or a registered name and returns a
  :class:`PretrainedEncoder`, whose ``embed`` prepares raw data the way the card says.
- :class:`EmbeddingEngine` is the one embedding path (batches, precision, compile, the Net1D
  fast path, per-record means with :class:`RecordMeans`) behind ``embed``, ``ecgfm embed``
  and ``ecgfm.eval.embed_task``; ``PretrainedEncoder.accelerate`` chooses its speed options.
- :func:`save_pretrained` writes the ecgfm directory format (``config.json``,
  ``model.safetensors``, ``README.md`` model card), ready to upload to the Hugging Face Hub.

See ``docs/hub.md``.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.hub._api import embed
    from ecgfm.hub._card import (
        BaseModel,
        InputSpec,
        Metric,
        PretrainedCard,
        TrainingInfo,
        WeightsSpec,
    )
    from ecgfm.hub._embed import EmbedResult
    from ecgfm.hub._embed_input import RecordIssue
    from ecgfm.hub._engine import EmbeddingEngine, RecordMeans
    from ecgfm.hub._errors import (
        ArchitectureMismatchError,
        PretrainedNotFoundError,
        WeightsIntegrityError,
        WeightsUnavailableError,
    )
    from ecgfm.hub._io import bundled_weights_dirs, find_bundled_file, sha256_file
    from ecgfm.hub._markdown import card_to_markdown
    from ecgfm.hub._model import PretrainedEncoder
    from ecgfm.hub._pretrained_registry import (
        is_pretrained,
        list_pretrained,
        pretrained_card,
        register_pretrained,
        unregister_pretrained,
    )
    from ecgfm.hub._resolve import from_pretrained, load_ecgfounder_pretrained, load_st_mem
    from ecgfm.hub._save import ChangedWeightsWarning, make_card, save_pretrained

# The card modules (_card, _errors, _markdown, _pretrained_registry) are light; _api,
# _engine, _io, _model, _resolve and _save import torch and are loaded on first use.
__getattr__, __dir__ = attach(
    __name__,
    attributes={
        "ecgfm.hub._api": ["embed"],
        "ecgfm.hub._card": [
            "BaseModel",
            "InputSpec",
            "Metric",
            "PretrainedCard",
            "TrainingInfo",
            "WeightsSpec",
        ],
        "ecgfm.hub._embed": ["EmbedResult"],
        "ecgfm.hub._embed_input": ["RecordIssue"],
        "ecgfm.hub._engine": ["EmbeddingEngine", "RecordMeans"],
        "ecgfm.hub._errors": [
            "ArchitectureMismatchError",
            "PretrainedNotFoundError",
            "WeightsIntegrityError",
            "WeightsUnavailableError",
        ],
        "ecgfm.hub._io": ["bundled_weights_dirs", "find_bundled_file", "sha256_file"],
        "ecgfm.hub._markdown": ["card_to_markdown"],
        "ecgfm.hub._model": ["PretrainedEncoder"],
        "ecgfm.hub._pretrained_registry": [
            "is_pretrained",
            "list_pretrained",
            "pretrained_card",
            "register_pretrained",
            "unregister_pretrained",
        ],
        "ecgfm.hub._resolve": ["from_pretrained", "load_ecgfounder_pretrained", "load_st_mem"],
        "ecgfm.hub._save": ["ChangedWeightsWarning", "make_card", "save_pretrained"],
    },
)

__all__ = [
    "ArchitectureMismatchError",
    "BaseModel",
    "ChangedWeightsWarning",
    "EmbedResult",
    "EmbeddingEngine",
    "InputSpec",
    "Metric",
    "PretrainedCard",
    "PretrainedEncoder",
    "PretrainedNotFoundError",
    "RecordIssue",
    "RecordMeans",
    "TrainingInfo",
    "WeightsIntegrityError",
    "WeightsSpec",
    "WeightsUnavailableError",
    "bundled_weights_dirs",
    "card_to_markdown",
    "embed",
    "find_bundled_file",
    "from_pretrained",
    "is_pretrained",
    "list_pretrained",
    "load_ecgfounder_pretrained",
    "load_st_mem",
    "make_card",
    "pretrained_card",
    "register_pretrained",
    "save_pretrained",
    "sha256_file",
    "unregister_pretrained",
]
