"""External peer baseline: the frozen encoder of OpenECG's layered codec (PyPI ``openecg``).

``ecgfm probe NAME --baselines openecg`` embeds the task with a model that nobody here
trained and probes it exactly like the entry. OpenECG (Apache-2.0) is **not** a dependency of
ecgfm: install it only in an evaluation environment (``pip install openecg``; it needs torch,
which ecgfm already has). It is imported lazily, by :func:`require_openecg`.

What is called, all from OpenECG's own API (nothing of it is copied here):

- the model: ``openecg.load_codec()``, the bundled ``codec_v6.pt`` (OpenECG 0.11.0:
  ``vit_transformer_sample_res_convtok_mh_1ch``, 1.16 M parameters, a convolutional tokenizer,
  4 convolution and 4 transformer layers of width 128, a sample-resolution refinement, and
  three linear heads: wave frame, beat type, rhythm), trained by its authors on real
  expert-annotated single-lead ECGs (LUDB, QTDB, ISP, MIT-BIH, a hospital rhythm set);
- its input contract: one lead, **500 Hz, 10 s (5,000 samples)**, each window
  rank-normalised to [-1, 1] by ``openecg.rank_normalize`` (the normalisation its
  ``encode()`` applies; amplitude units therefore do not matter) and no filter. ecgfm's
  part is the :func:`openecg_preset`: select the task's lead, resample to 500 Hz (polyphase)
  and cut 10 s windows (CinC 2017 segments and PTB-XL records are 10 s: one window each);
- the embedding: the 128-d feature that all three heads read (the input of its
  ``head_sample`` layer, caught with a forward pre-hook on the model's own forward), averaged
  over the 5,000 samples of the window. The heads are linear in that feature, so the probes
  see everything a time-averaged head output would carry.

The codec's rhythm head was trained on lead II; the lead-I tasks feed it lead I (CinC 2017's
AliveCor lead is lead-I-like). The reports say so.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from ecgfm.transforms.preprocessing import Compose
from ecgfm.transforms.presets import Preset

__all__ = [
    "OPENECG_FS",
    "OPENECG_LENGTH",
    "OpenECGEncoder",
    "openecg_preset",
    "require_openecg",
]

OPENECG_FS = 500.0
OPENECG_LENGTH = 5000
_ARCH = "vit_transformer_sample_res_convtok_mh_1ch"


def require_openecg(what: str = "the OpenECG baseline") -> ModuleType:
    """Import ``openecg`` or raise an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module("openecg")
    except ImportError as err:
        raise ImportError(
            f"{what} needs the optional package openecg, which is not installed (ecgfm does "
            "not depend on it; install it in an evaluation environment): pip install openecg"
        ) from err


def openecg_preset(lead: str = "I") -> Preset:
    """ecgfm's side of OpenECG's input contract: ``lead`` only, 500 Hz, 10 s windows, no
    filter and no normalisation (the encoder rank-normalises each window itself)."""
    if not isinstance(lead, str) or not lead:
        raise TypeError(f"lead must be one lead name such as 'I', got {lead!r}")
    return Preset(
        name="openecg",
        fs=OPENECG_FS,
        length=OPENECG_LENGTH,
        leads=(lead,),
        filters=Compose([]),
        normalize=Compose([]),
        nan_policy="zero",
        description=(
            f"OpenECG codec input: lead {lead}, 500 Hz, 10 s (5000); no filter; each window "
            "rank-normalised by openecg.rank_normalize inside the encoder"
        ),
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OpenECGEncoder:
    """OpenECG's bundled codec as a frozen encoder: windows ``(B, 1, 5000)`` -> ``(B, 128)``.

    Use it with :func:`ecgfm.eval.embed_task` and its :attr:`preset` and :attr:`model_id`::

        enc = OpenECGEncoder()
        emb = embed_task(enc, data, preset=enc.preset, model_id=enc.model_id)

    Args:
        lead: the lead the task gives it (default ``"I"``).
        checkpoint: an OpenECG codec checkpoint; ``None``: the one bundled in the wheel.
        device: torch device for the model (default ``"cpu"``).

    Raises:
        ImportError: ``openecg`` is not installed (the message says ``pip install openecg``).
        ValueError: the checkpoint is not a single-lead sample-resolution codec.
    """

    def __init__(
        self, *, lead: str = "I", checkpoint: str | Path | None = None, device: str = "cpu"
    ) -> None:
        oe = require_openecg("OpenECGEncoder")
        self._openecg = oe
        if checkpoint is None:
            checkpoint = Path(oe.__file__).resolve().parent / "models" / "codec_v6.pt"
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(
                f"OpenECG checkpoint {path} not found; pass checkpoint=None for the bundled one"
            )
        self.model = oe.load_codec(str(path), device=str(device)).eval()
        config = dict(getattr(self.model, "model_config", {}) or {})
        if config.get("arch") != _ARCH or config.get("n_input_channels") != 1:
            raise ValueError(
                f"{path} is a {config.get('arch')!r} model; OpenECGEncoder reads the features of "
                f"the single-lead codec {_ARCH!r} (checkpoint=None: the bundled codec_v6.pt)"
            )
        self.preset = openecg_preset(lead)
        self.num_features = int(self.model.head_sample.in_features)
        self.device = torch.device(device)
        version = getattr(oe, "__version__", "?")
        self.model_id = f"openecg {version} {path.name} sha256:{_sha256(path)} mean(head input)"
        self.label = f"openecg {version} {path.stem} (frozen)"
        self.details: dict[str, Any] = {
            "package": f"openecg {version}",
            "checkpoint": path.name,
            "architecture": _ARCH,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "representation": "input of the heads (head_sample), mean over the window",
            "input": self.preset.description,
        }

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(B, 128)`` of preset windows ``(B, 1, 5000)`` (any units)."""
        if not isinstance(windows, torch.Tensor):
            raise TypeError(f"windows must be a torch tensor (B, 1, L), got {type(windows)}")
        if windows.ndim != 3 or windows.shape[1] != 1 or windows.shape[2] != OPENECG_LENGTH:
            raise ValueError(
                f"windows must be (B, 1, {OPENECG_LENGTH}) (one lead, 10 s at 500 Hz), got "
                f"{tuple(windows.shape)}; prepare them with OpenECGEncoder().preset"
            )
        ranked = np.stack(
            [self._openecg.rank_normalize(w) for w in windows[:, 0].float().cpu().numpy()]
        )
        x = torch.from_numpy(ranked.astype(np.float32)).to(self.device)
        lead_id = torch.zeros(x.shape[0], dtype=torch.long, device=self.device)
        caught: list[torch.Tensor] = []
        # openecg.load_codec caches the model: hook it for this call only.
        hook = self.model.head_sample.register_forward_pre_hook(
            lambda _module, args: caught.append(args[0])
        )
        try:
            with torch.inference_mode():
                self.model(x, lead_id)
        finally:
            hook.remove()
        if len(caught) != 1:
            raise RuntimeError(f"expected one head input per forward, caught {len(caught)}")
        return caught[0].float().mean(dim=1)  # (B, T, 128) -> (B, 128)

    def __repr__(self) -> str:
        return f"OpenECGEncoder({self.model_id!r})"
