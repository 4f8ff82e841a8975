"""Bad inputs of weight-file I/O: ``load_encoder``, ``warm_start``, ``make_card``'s preset,
the training export (``fit(export=EncoderExport(...))``) and the deprecated ``export_encoder``.

Each call fails with the right error type and a message that says what to do with the Python
arguments the caller has. The ``fit`` cases fail before the first training step (their
``compute_loss`` would raise ``AssertionError``).
"""

from __future__ import annotations

import functools
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from _catalogue import advice_test, unique_ids_test
from torch import nn

from ecgfm.hub import (
    ArchitectureMismatchError,
    WeightsIntegrityError,
    make_card,
    save_pretrained,
)
from ecgfm.hub._io import write_safetensors
from ecgfm.models import create_model
from ecgfm.train import DistInfo
from ecgfm.train.checkpoint import export_encoder, export_warm_start, warm_start
from ecgfm.train.encoders import load_encoder
from ecgfm.train.export import EncoderExport
from ecgfm.train.loop import TrainConfig, fit
from ecgfm.transforms.presets import get_preset

INFO = DistInfo(0, 1, 0, torch.device("cpu"), None)


@functools.cache
def _root() -> Path:
    return Path(tempfile.mkdtemp(prefix="ecgfm-bad-weights-io-"))


@functools.cache
def _lead1() -> nn.Module:
    torch.manual_seed(0)
    return create_model("net1d_small", in_channels=1).eval()


@functools.cache
def _directory() -> Path:
    """A lead-I Net1D saved by save_pretrained."""
    lead_i = get_preset("selfmis", leads=("I",))
    card = make_card(_lead1(), name="bad-weights-io", preset=lead_i, license="MIT",
                     paper="none (test model)", training="random weights")  # fmt: skip
    return save_pretrained(_lead1(), _root() / "dir", card)


def _file(name: str, metadata: dict[str, str] | None) -> Path:
    path = _root() / name
    safetensors.torch.save_file(_lead1().state_dict(), str(path), metadata=metadata)
    return path


def _truncated() -> Path:
    data = (_directory() / "model.safetensors").read_bytes()
    path = _root() / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    return path


def _warm_start_file() -> Path:
    return export_warm_start(nn.Linear(3, 2), _root() / "warm_start.safetensors")


def _not_trained(model: nn.Module, step: int) -> Any:
    raise AssertionError("fit trained although its export could not be written")


def _fit(tmp: Path, export: Any, **kw: Any) -> Any:
    config = TrainConfig(out_dir=str(tmp / "run"), steps=1)
    return fit(nn.Linear(3, 1), _not_trained, config, INFO, export=export, **kw)


def _export(**kw: Any) -> EncoderExport:
    return EncoderExport(_lead1(), **{"preset": "selfmis", **kw})


def _occupied(tmp: Path) -> Any:
    (tmp / "run" / "encoder").mkdir(parents=True)
    (tmp / "run" / "encoder" / "notes.txt").write_text("mine")
    return _fit(tmp, _export())


def _export_encoder_int8(tmp: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return export_encoder(_lead1(), tmp / "e.safetensors", dtype="int8")


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[Path], Any], type[BaseException], str]] = [
    # --- load_encoder
    ("load-encoder-not-a-path", lambda t: load_encoder(3), TypeError,
     "source must be a path or a string"),
    ("load-encoder-warm-start-file", lambda t: load_encoder(_warm_start_file()), ValueError,
     r"not an encoder: load the run's encoder directory \(<out>/encoder\)"),
    ("load-encoder-malformed-metadata",
     lambda t: load_encoder(_file("bad-json.safetensors", {"ecgfm": "{not json"})),
     WeightsIntegrityError, "malformed ecgfm metadata"),
    ("load-encoder-metadata-not-an-object",
     lambda t: load_encoder(_file("list.safetensors", {"ecgfm": "[1, 2]"})),
     WeightsIntegrityError, "malformed ecgfm metadata"),
    ("load-encoder-truncated", lambda t: load_encoder(_truncated()), WeightsIntegrityError,
     "not a readable safetensors file"),
    ("load-encoder-arch-args-of-a-directory",
     lambda t: load_encoder(_directory(), arch_args={"in_channels": 1}), ValueError,
     "leave arch_args out"),
    ("load-encoder-other-arch-than-directory",
     lambda t: load_encoder(_directory(), arch="net1d_ecgfounder"), ValueError,
     "holds a 'net1d_small' encoder, not 'net1d_ecgfounder'"),
    ("load-encoder-plain-file-other-args",
     lambda t: load_encoder(_file("plain.safetensors", None), arch="net1d_small"),
     ArchitectureMismatchError, "pass the architecture arguments the weights were trained with"),
    # --- warm_start
    ("warm-start-malformed-metadata",
     lambda t: warm_start(nn.Linear(3, 2), None, _file("ws-bad.safetensors", {"ecgfm": "x"})),
     WeightsIntegrityError, "malformed ecgfm metadata"),
    # --- make_card: the preset must feed what the model takes
    ("make-card-preset-leads",
     lambda t: make_card(_lead1(), name="x", preset="selfmis", license="MIT", paper="p",
                         training="t"),
     ValueError, r"preset=get_preset\('selfmis', leads=\('I',\)\)"),
    ("make-card-preset-length",
     lambda t: make_card(create_model("net1d_small", default_input_length=2500), name="x",
                         preset="ecgfounder", license="MIT", paper="p", training="t"),
     ValueError, r"preset=get_preset\('ecgfounder', length=2500\)"),
    # --- EncoderExport
    ("export-not-a-module", lambda t: EncoderExport("encoder.safetensors", preset="selfmis"),
     TypeError, r"EncoderExport\(encoder=\.\.\.\) must be an encoder"),
    ("export-preset-not-a-preset", lambda t: _export(preset=3), TypeError,
     r"EncoderExport\(preset=\.\.\.\) must be a Preset or a preset name"),
    ("export-directory-path", lambda t: _export(directory="runs/enc"), ValueError,
     r"EncoderExport\(directory=\.\.\.\) must be the plain name"),
    ("export-name-uppercase", lambda t: _export(name="My Model"), ValueError,
     r"EncoderExport\(name=\.\.\.\) must be lowercase"),
    ("export-tags-string", lambda t: _export(tags="ssl"), TypeError,
     r"EncoderExport\(tags=\.\.\.\) must be a tuple of strings"),
    # --- fit: everything the export needs is checked before training
    ("fit-export-dtype-alias", lambda t: _fit(t, _export(), export_dtype="bf16"), ValueError,
     r"did you mean export_dtype='bfloat16'"),
    ("fit-export-wrong-type", lambda t: _fit(t, "encoder"), TypeError,
     r"export must be an ecgfm\.train\.export\.EncoderExport"),
    ("fit-export-without-arch-name",
     lambda t: _fit(t, EncoderExport(nn.Conv1d(1, 4, 3), preset="selfmis")), ValueError,
     "build it with ecgfm.models.create_model"),
    ("fit-export-over-a-foreign-directory", _occupied, FileExistsError,
     r"pick another EncoderExport\(directory=\.\.\.\)"),
    ("fit-deprecated-tuple-without-arch-name",
     lambda t: _fit(t, (nn.Conv1d(1, 4, 3), "e.safetensors")), ValueError,
     r"pass export=EncoderExport\(encoder, preset=\.\.\.\)"),
    # --- writers
    ("export-encoder-dtype", _export_encoder_int8, ValueError, "dtype must be one of"),
    ("write-safetensors-dtype",
     lambda t: write_safetensors({}, t / "w.safetensors", storage_dtype="fp16"), ValueError,
     r"did you mean storage_dtype='float16'"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD)


@contextmanager
def _writes_nothing(tmp_path: Path) -> Iterator[None]:
    yield
    assert not list(tmp_path.rglob("*.safetensors"))  # nothing written
    assert not list(tmp_path.rglob("config.json"))


test_bad_input_fails_with_advice = advice_test(
    BAD,
    tmp_path=True,
    filterwarnings=["ignore:fit\\(\\.\\.\\., export=\\(encoder:DeprecationWarning"],
    guard=_writes_nothing,
)
