"""Bad inputs of the card pipeline: bundled card files read by the registry, and card specs read
by ``docs/generate.py`` (docs/card_specs/README.md). Each fails with the right error type and a
message that says what to fix (a file, a spec key, the command to run); nothing is generated
from a wrong spec.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from _catalogue import advice_test, unique_ids_test
from _shared import load_script

import ecgfm
from ecgfm.hub import register_pretrained
from ecgfm.hub._pretrained_registry import read_card_file

REPO = Path(__file__).resolve().parents[1]
PROBE = "artifacts/hl-p60/probe_ptbxl-superclass.json"  # entry hl-vit-p60-d2-w512 + random


def _cardgen() -> ModuleType:
    if "cardgen" not in sys.modules:
        # one module object: generate.py's `from cardgen import` sees the same SpecError
        sys.modules["cardgen"] = load_script(REPO / "docs" / "cardgen.py", "cardgen")
    return sys.modules["cardgen"]


SPEC: dict[str, Any] = {
    "card": {
        **{
            k: v
            for k, v in ecgfm.pretrained_card("hl-vit-p60-d2-w512").to_dict().items()
            if k not in ("metrics", "weights")
        },
        "weights": {"format": "ecgfm", "hf_repo_id": "ecgfm/test"},
    },
    "metrics": [
        {
            "id": "sc",
            "label": "x",
            "json": PROBE,
            "task": "t",
            "dataset": "d",
            "models": {"random:*": "random weights (seed {seed})"},
        }
    ],
}


def _build(root: Path, change: Callable[[dict[str, Any]], None], probe: Any = None) -> Any:
    """Build the spec ``SPEC`` changed by ``change`` in a copy of the repository's inputs."""
    (root / "artifacts" / "hl-p60").mkdir(parents=True, exist_ok=True)
    doc = json.loads((REPO / PROBE).read_text())
    (root / PROBE).write_text(json.dumps(probe(doc) if probe else doc))
    spec = copy.deepcopy(SPEC)
    change(spec)
    (root / "hl-vit-p60-d2-w512.json").write_text(json.dumps(spec))
    shutil.copyfile(REPO / "docs/card_specs/_shared.json", root / "_shared.json")
    gen = _cardgen()
    return gen.build_entry(root, "hl-vit-p60-d2-w512.json", gen.load_shared(root, "_shared.json"))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = spec
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value

    return change


def _card_file(root: Path, name: str, text: str) -> Any:
    (root / name).write_text(text)
    return read_card_file(root / name)


def _renamed_probe(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "arguments": {**doc["arguments"], "name": "st-mem-tiny"}}


def _old_option(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "arguments": {**doc["arguments"], "removed_flag": 1}}


def _both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        for c in changes:
            c(spec)

    return change


_SPEC_ERROR = ValueError  # cardgen.SpecError is a ValueError
BAD: list[tuple[str, Callable[[Path], Any], type[BaseException], str]] = [
    ("card-file-not-json", lambda d: _card_file(d, "x.card.json", "{"), ValueError,
     r"regenerate it with `python docs/generate\.py`"),
    ("card-file-not-a-card", lambda d: _card_file(d, "x.card.json", '{"name": "x"}'), ValueError,
     r"missing the required fields"),
    ("card-file-misnamed",
     lambda d: _card_file(d, "other.card.json", json.dumps(ecgfm.pretrained_card("st-mem-tiny")
                                                           .to_dict())),
     ValueError, r"must be named 'st-mem-tiny\.card\.json'"),
    ("register-a-bundled-name",
     lambda d: register_pretrained(ecgfm.pretrained_card("st-mem-tiny")), ValueError,
     "already registered"),
    ("spec-unknown-key", lambda d: _build(d, _set("metric", [])), _SPEC_ERROR,
     r"unknown keys \['metric'\]"),
    ("spec-writes-metrics", lambda d: _build(d, _set("card.metrics", [])), _SPEC_ERROR,
     "generated, not written"),
    ("spec-writes-sha256", lambda d: _build(d, _set("card.weights.sha256", "0" * 64)), _SPEC_ERROR,
     "generated, not written"),
    ("spec-directory-registered", lambda d: _build(d, _set("directory", "x")), _SPEC_ERROR,
     r'give "directory" exactly when "registered" is false'),
    ("baseline-without-label", lambda d: _build(d, _set("metrics.0.models", {})), _SPEC_ERROR,
     "every measured baseline must be on the card"),
    ("group-without-id", lambda d: _build(d, _set("metrics.0.id", "")), _SPEC_ERROR,
     r'needs a unique "id"'),
    ("probe-of-another-entry", lambda d: _build(d, lambda s: None, _renamed_probe), _SPEC_ERROR,
     r'set "entry": false'),
    ("probe-option-removed", lambda d: _build(d, lambda s: None, _old_option), _SPEC_ERROR,
     r"\['removed_flag'\] are not options of `ecgfm probe`"),
    ("probe-file-missing", lambda d: _build(d, _set("metrics.0.json", "artifacts/nope.json")),
     _SPEC_ERROR, r"cannot read artifacts/nope\.json"),
    ("unknown-placeholder", lambda d: _build(d, _set("card.description", "{nope}")), _SPEC_ERROR,
     r"unknown placeholder \{nope\}"),
    ("value-without-source",
     lambda d: _build(d, _both(_set("values", {"v": {"field": "x"}}),
                               _set("card.description", "{v}"))),
     _SPEC_ERROR, "give 'json' .* or 'jsonl'"),
    ("value-matches-no-report",
     lambda d: _build(d, _both(_set("values", {"v": {"json": PROBE, "probe": "logistic-cv",
                                                     "show": "auroc"}}),
                               _set("card.description", "{v}"))),
     _SPEC_ERROR, r"0 reports match model 'entry' and probe 'logistic-cv'"),
    ("value-unknown-show",
     lambda d: _build(d, _both(_set("values", {"v": {"json": PROBE, "probe": "linear",
                                                     "show": "mean"}}),
                               _set("card.description", "{v}"))),
     _SPEC_ERROR, r"show must be one of \['auroc', 'auroc_ci', 'paired'\]"),
    ("value-duplicate-name",
     lambda d: _build(d, _set("texts", {"ptbxl_data": "again"})), _SPEC_ERROR,
     r"names \['ptbxl_data'\] are defined twice"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD)


def test_the_unchanged_spec_builds(tmp_path: Path) -> None:
    entry = _build(tmp_path, lambda s: None)
    assert [m.model for m in entry.card.metrics][:2] == ["", "random weights (seed 0)"]


test_bad_input_fails_with_advice = advice_test(BAD, tmp_path=True)
