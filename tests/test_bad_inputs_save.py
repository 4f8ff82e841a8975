"""Bad inputs of ``save_pretrained`` / ``make_card``: each fails with the right error type and
a message that says what to do with the Python arguments the caller has. Nothing is written.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from _catalogue import advice_test, unique_ids_test
from torch import nn

from ecgfm.hub import ArchitectureMismatchError, Metric, PretrainedCard, make_card, save_pretrained
from ecgfm.models import create_model

METRIC = Metric(task="t", metric="macro AUROC", value=0.5, dataset="d", command="c")


@functools.cache
def _model_and_card() -> tuple[nn.Module, PretrainedCard]:
    torch.manual_seed(0)
    model = create_model("net1d_small").eval()
    card = make_card(model, name="bad-inputs", preset="ecgfounder", license="MIT", paper="p",
                     training="random initialisation")  # fmt: skip
    return model, card


def _model() -> nn.Module:
    return copy.deepcopy(_model_and_card()[0])


def _card() -> PretrainedCard:
    return _model_and_card()[1]


def _save(d: Path, model: Any = None, card: Any = None, **kw: Any) -> Any:
    return save_pretrained(_model() if model is None else model, d / "m",
                           _card() if card is None else card, **kw)  # fmt: skip


def _with_weight(value: float, dtype: torch.dtype = torch.float32) -> nn.Module:
    model = _model().to(dtype)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = value
    return model


def _file(d: Path) -> Any:
    (d / "m").write_text("not a directory")
    return _save(d)


def _not_empty(d: Path) -> Any:
    (d / "m").mkdir()
    (d / "m" / "notes.txt").write_text("x")
    return _save(d)


# (id, call(tmp directory), expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[Path], Any], type[BaseException], str]] = [
    ("storage-dtype-alias", lambda d: _save(d, storage_dtype="bf16"), ValueError,
     r"did you mean storage_dtype='bfloat16'"),
    ("storage-dtype-int8", lambda d: _save(d, storage_dtype="int8"), ValueError,
     r"storage_dtype must be one of \['bfloat16', 'float16', 'float32'\]"),
    ("storage-dtype-float64", lambda d: _save(d, storage_dtype=torch.float64), ValueError,
     "storage_dtype must be one of"),
    ("float16-overflow", lambda d: _save(d, _with_weight(1e6), storage_dtype="float16"),
     ValueError, r"would become infinite; pass storage_dtype='bfloat16' or 'float32'"),
    ("float64-weights-not-exact", lambda d: _save(d, _with_weight(0.1, torch.float64)),
     ValueError, r"pass storage_dtype='float32' to save_pretrained"),
    ("name-not-lowercase", lambda d: _save(d, name="My Model"), ValueError,
     r"name must be lowercase .* \(e\.g\. 'selfmis-lead1'\)"),
    ("name-not-str", lambda d: _save(d, name=3), ValueError, "name must be lowercase"),
    ("training-dict", lambda d: _save(d, training={"data": "x"}), TypeError,
     r"training must be a string or an ecgfm\.hub\.TrainingInfo"),
    ("training-empty", lambda d: _save(d, training="  "), ValueError,
     r"training must describe the training"),
    ("metrics-single-metric", lambda d: _save(d, metrics=METRIC), TypeError,
     r"metrics=\[m\]"),
    ("metrics-dicts", lambda d: _save(d, metrics=[{"task": "t", "value": 0.5}]), TypeError,
     r"list of ecgfm\.hub\.Metric"),
    ("description-list", lambda d: _save(d, description=["x"]), TypeError,
     "description must be a string"),
    ("overwrite-str", lambda d: _save(d, overwrite="yes"), TypeError,
     "overwrite must be True or False"),
    ("model-is-a-path", lambda d: save_pretrained("runs/model", d / "m"), TypeError,
     r"model must be an encoder \(torch\.nn\.Module\)"),
    ("model-is-a-state-dict", lambda d: _save(d, _model().state_dict()), TypeError,
     "model must be an encoder"),
    ("directory-none", lambda d: save_pretrained(_model(), None, _card()), TypeError,
     "directory must be a path"),
    ("name-passed-as-card", lambda d: _save(d, card="my-model"), TypeError,
     r"pass name='my-model'"),
    ("card-as-dict", lambda d: _save(d, card=_card().to_dict()), TypeError,
     r"PretrainedCard\.from_dict"),
    ("bare-encoder-without-card", lambda d: save_pretrained(_model(), d / "m"), ValueError,
     r"card=ecgfm\.hub\.make_card\(model"),
    ("card-of-another-model",
     lambda d: _save(d, create_model("net1d_small", filter_list=(16, 16, 32, 32, 64, 64, 128))),
     ArchitectureMismatchError, r"make_card"),
    ("target-is-a-file", _file, FileExistsError, "exists and is not a directory"),
    ("target-not-empty", _not_empty, FileExistsError, "pass overwrite=True"),
    ("make-card-storage-alias",
     lambda d: make_card(_model(), name="x", preset="ecgfounder", license="MIT", paper="p",
                         training="t", storage_dtype="fp16"),
     ValueError, r"did you mean storage_dtype='float16'"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD)


@contextmanager
def _saves_nothing(tmp_path: Path) -> Iterator[None]:
    yield
    assert not (tmp_path / "m" / "config.json").exists()  # nothing saved
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs


test_bad_input_fails_with_advice = advice_test(BAD, tmp_path=True, guard=_saves_nothing)
