"""Build pretrained cards from their specs and the committed measurements (used by generate.py).

A spec (``docs/card_specs/<name>.json``, described in ``docs/card_specs/README.md``) holds what
a person writes about an entry: architecture, input contract, licence, paper, training,
description, limitations. Every measured number comes from a committed file under
``artifacts/``: metric rows from the ``--json`` output of ``ecgfm probe``, numbers quoted in a
text from a named *value* (a probe report, or a line of a training log), the weights digest
from the weights file. Numbers are kept unrounded in the cards; they are rounded once, where
they are displayed.

Text placeholders: ``{name}`` or ``{name:format}`` in any string of a spec is replaced by the
value or shared text ``name``; in a baseline's model label, the fields of its report's
``details`` (e.g. ``{epochs_run}``, ``{minutes:.1f}``) are available too. ``{{`` and ``}}`` are
literal braces. An unknown name is an error.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import hashlib
import json
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecgfm.hub._card import PretrainedCard

__all__ = ["Entry", "SpecError", "build_entry", "load_shared", "probe_command", "resolve_value"]

# Spec fields whose text may be written as a list of lines (joined with single spaces).
TEXT_KEYS = frozenset(
    {"description", "limitations", "paper", "data", "compute", "recipe", "user_file_hint",
     "task", "dataset", "label"}
)  # fmt: skip
# ``ecgfm probe`` options that do not change the measured numbers (left out of cited commands).
RUN_LOCAL = frozenset({"help", "json", "progress", "cache_dir", "no_cache", "device", "batch_size"})
# Options always cited, even at their default value.
ALWAYS = ("task", "data_root", "probe", "baselines")
SHOWS: dict[str, Callable[[dict[str, Any]], str]] = {
    "auroc": lambda r: f"{r['metrics']['auroc']['value']:.3f}",
    "auroc_ci": lambda r: "{value:.3f} [{low:.3f}, {high:.3f}]".format(**r["metrics"]["auroc"]),
    "paired": lambda r: "{difference:+.3f} [{low:+.3f}, {high:+.3f}]".format(
        **r["details"]["paired_auroc_vs_entry"]
    ),
}


class SpecError(ValueError):
    """A spec, or a measurement it names, is wrong; the message says which file and what."""


def read_json(root: Path, rel: str, what: str) -> Any:
    """The JSON file ``root / rel``; ``what`` names the spec field that cited it."""
    if not isinstance(rel, str) or not rel:
        raise SpecError(f"{what}: expected a path relative to the repository, got {rel!r}")
    path = root / rel
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SpecError(f"{what}: cannot read {rel} ({err})") from None


def load_shared(root: Path, rel: str = "docs/card_specs/_shared.json") -> dict[str, Any]:
    """The texts, values and probe names that several specs share."""
    shared = read_json(root, rel, "shared spec")
    unknown = set(shared) - {"texts", "values", "probes"}
    if unknown:
        raise SpecError(f"{rel}: unknown keys {sorted(unknown)} (texts, values, probes)")
    return {"texts": {}, "values": {}, "probes": {}, **shared}


# ---- values ---------------------------------------------------------------------------------
def _dotted(obj: Any, path: str, what: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping) or part not in obj:
            raise SpecError(f"{what}: no field {path!r} (missing {part!r})")
        obj = obj[part]
    return obj


def select_report(doc: dict[str, Any], model: str, probe: str, what: str) -> dict[str, Any]:
    """The one report of a probe output for ``model`` (``"entry"`` or a glob) and ``probe``."""
    found = [
        r
        for r in doc.get("reports", ())
        if r.get("probe") == probe
        and (r.get("model") == doc.get("model") if model == "entry"
             else fnmatch.fnmatchcase(str(r.get("model")), model))
    ]  # fmt: skip
    if len(found) != 1:
        models = sorted({f"{r.get('model')} ({r.get('probe')})" for r in doc.get("reports", ())})
        raise SpecError(
            f"{what}: {len(found)} reports match model {model!r} and probe {probe!r} "
            f"(reports: {', '.join(models) or 'none'})"
        )
    return found[0]


def _log_line(root: Path, v: Mapping[str, Any], what: str) -> dict[str, Any]:
    path = root / v["jsonl"]
    try:
        lines = [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    except (OSError, json.JSONDecodeError) as err:
        raise SpecError(f"{what}: cannot read {v['jsonl']} ({err})") from None
    where = v.get("where", {})
    hits = [
        ln
        for ln in lines
        if all(ln.get(k) == want for k, want in where.items()) and v["field"] in ln
    ]
    if not hits:
        raise SpecError(f"{what}: no line of {v['jsonl']} with {where} has {v['field']!r}")
    return hits[-1]


def resolve_value(root: Path, name: str, v: Mapping[str, Any]) -> str:
    """The displayed text of the value spec ``v`` (see docs/card_specs/README.md)."""
    what = f"value {name!r}"
    if not isinstance(v, Mapping):
        raise SpecError(f"{what}: expected an object, got {v!r}")
    if "jsonl" in v:
        if "field" not in v:
            raise SpecError(f"{what}: a training-log value needs 'field'")
        x = _log_line(root, v, what)[v["field"]]
    elif "json" in v:
        doc = read_json(root, v["json"], what)
        report = select_report(doc, v.get("model", "entry"), v.get("probe", ""), what)
        if "show" in v:
            if v["show"] not in SHOWS:
                raise SpecError(f"{what}: show must be one of {sorted(SHOWS)}, got {v['show']!r}")
            try:
                return SHOWS[v["show"]](report)
            except KeyError as err:
                raise SpecError(f"{what}: the report has no {err}") from None
        if "field" not in v:
            raise SpecError(f"{what}: a probe value needs 'show' or 'field'")
        x = _dotted(report, v["field"], what)
    else:
        raise SpecError(f"{what}: give 'json' (a probe output) or 'jsonl' (a training log)")
    if "scale" in v:
        x = x * v["scale"]
    try:
        return format(x, v.get("format", ""))
    except (TypeError, ValueError) as err:
        raise SpecError(f"{what}: cannot format {x!r} with {v.get('format')!r} ({err})") from None


# ---- text formatting ------------------------------------------------------------------------
class _Formatter(string.Formatter):
    def __init__(self, lookup: Callable[[str], Any]) -> None:
        self.lookup = lookup

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        return self.lookup(str(key))


@dataclass
class Names:
    """The names a spec's texts may use: its own and the shared values and texts (lazy)."""

    root: Path
    shared: dict[str, Any]
    values: dict[str, Any]
    texts: dict[str, Any]
    origin: str
    _cache: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        own, common = [*self.values, *self.texts], [*self.shared["values"], *self.shared["texts"]]
        clash = sorted({k for k in own if own.count(k) > 1 or k in common})
        if clash:
            raise SpecError(f"{self.origin}: names {clash} are defined twice (spec or shared)")
        self.values = {**self.shared["values"], **self.values}
        self.texts = {**self.shared["texts"], **self.texts}

    def lookup(self, key: str, extra: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
        if extra is not None and key in extra:
            return extra[key]
        if key in self._cache:
            return self._cache[key]
        if key in self.values:
            out = resolve_value(self.root, key, self.values[key])
        elif key in self.texts:
            if depth > 5:
                raise SpecError(f"{self.origin}: text {key!r} refers to itself")
            out = self.format(self.texts[key], extra, depth + 1)
            if extra is not None:
                return out
        else:
            raise SpecError(f"{self.origin}: unknown placeholder {{{key}}} in a text")
        self._cache[key] = out
        return out

    def format(self, text: Any, extra: Mapping[str, Any] | None = None, depth: int = 0) -> str:
        if isinstance(text, list) and all(isinstance(t, str) for t in text):
            text = " ".join(t.strip() for t in text)
        if not isinstance(text, str):
            raise SpecError(f"{self.origin}: expected a text (string or list of lines): {text!r}")
        try:
            return _Formatter(lambda k: self.lookup(k, extra, depth)).format(text)
        except (ValueError, IndexError, AttributeError) as err:
            raise SpecError(
                f"{self.origin}: cannot fill the text {text[:60]!r}... ({err})"
            ) from None

    def fill(self, obj: Any, key: str = "") -> Any:
        """``obj`` with every text filled in (lists of lines joined under TEXT_KEYS)."""
        if isinstance(obj, dict):
            return {k: self.fill(v, k) for k, v in obj.items()}
        if isinstance(obj, str) or (key in TEXT_KEYS and isinstance(obj, list)):
            return self.format(obj)
        if isinstance(obj, list):
            return [self.fill(v) for v in obj]
        return obj


# ---- probe commands and metric rows ---------------------------------------------------------
def _probe_parser() -> argparse.ArgumentParser:
    from ecgfm.eval.cli_probe import add_probe_parser

    return add_probe_parser(argparse.ArgumentParser(prog="ecgfm").add_subparsers())


def probe_command(arguments: Mapping[str, Any], what: str) -> str:
    """The ``ecgfm probe`` command line of a probe output, from its recorded ``arguments``.

    The task, data root, probes and baselines are always cited; every other option only when
    it differs from its default; options that do not change the numbers are left out.
    """
    parser = _probe_parser()
    known = {a.dest for a in parser._actions} | {"command"}
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise SpecError(f"{what}: arguments {unknown} are not options of `ecgfm probe` any more")
    parts = ["ecgfm probe", str(arguments["name"])]
    for action in parser._actions:
        if not action.option_strings or action.dest in RUN_LOCAL:
            continue
        value = arguments.get(action.dest, action.default)
        if action.dest not in ALWAYS and value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        if isinstance(action, argparse._StoreTrueAction):
            parts += [flag] if value else []
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                parts += [flag, str(item)]
        else:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join(parts)


def metric_rows(
    doc: dict[str, Any], group: Mapping[str, Any], names: Names, entry: str,
    probes: Mapping[str, str],
) -> list[dict[str, Any]]:  # fmt: skip
    """The card metrics of one probe output ``doc``: the entry's reports first, then its
    baselines, probe by probe. Every baseline report must have a label in ``group["models"]``."""
    what = f"{names.origin} metrics group {group.get('id', '?')!r}"
    with_entry = group.get("entry", True)
    if with_entry and doc.get("arguments", {}).get("name") != entry:
        probed = doc.get("arguments", {}).get("name")
        raise SpecError(
            f'{what}: {group["json"]} probes {probed!r}, not {entry!r} (set "entry": false '
            "to cite only its baselines)"
        )
    command = probe_command(doc["arguments"], what)
    task, dataset = names.format(group["task"]), names.format(group["dataset"])
    order = list(dict.fromkeys(r["probe"] for r in doc["reports"]))
    rows = []
    for i, r in enumerate(doc["reports"]):
        is_entry = r["model"] == doc["model"]
        if is_entry and not with_entry:
            continue
        if r["probe"] not in probes:
            raise SpecError(f"{what}: probe {r['probe']!r} has no display name (shared 'probes')")
        model = ""
        if not is_entry:
            labels = [lab for pat, lab in group.get("models", {}).items()
                      if fnmatch.fnmatchcase(r["model"], pat)]  # fmt: skip
            if not labels:
                raise SpecError(
                    f"{what}: baseline {r['model']!r} of {group['json']} has no label in "
                    '"models"; every measured baseline must be on the card'
                )
            model = names.format(labels[0], extra=r.get("details", {}))
        auroc = r["metrics"]["auroc"]
        metric = {
            "task": f"{task}, {probes[r['probe']]}",
            "metric": "macro AUROC",
            "value": auroc["value"],
            "dataset": dataset,
            "command": command,
            "split": r["evaluated_on"],
            "ci95": [auroc["low"], auroc["high"]],
            "model": model,
        }
        rows.append(((order.index(r["probe"]), not is_entry, i), metric))
    return [m for _, m in sorted(rows, key=lambda t: t[0])]


# ---- entries --------------------------------------------------------------------------------
@dataclass
class Entry:
    """One generated entry: its card, the spec it came from and its resolved probe outputs."""

    card: PretrainedCard
    spec: dict[str, Any]
    groups: dict[str, dict[str, Any]]  # group id -> {"spec": group, "doc": probe output}

    @property
    def registered(self) -> bool:
        return bool(self.spec.get("registered", True))


SPEC_KEYS = frozenset({"card", "registered", "directory", "metrics", "values", "texts", "summary"})


def build_entry(root: Path, rel: str, shared: dict[str, Any]) -> Entry:
    """The card of the spec ``rel`` (validated by :class:`PretrainedCard`)."""
    spec = read_json(root, rel, "spec")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise SpecError(f"{rel}: unknown keys {sorted(unknown)}; known: {sorted(SPEC_KEYS)}")
    if spec.get("registered", True) == ("directory" in spec):
        raise SpecError(f'{rel}: give "directory" exactly when "registered" is false')
    names = Names(root, shared, spec.get("values", {}), spec.get("texts", {}), rel)
    card = names.fill(copy.deepcopy(spec["card"]))
    if "metrics" in card or "sha256" in card.get("weights", {}):
        raise SpecError(f"{rel}: metrics and weights.sha256 are generated, not written")
    groups: dict[str, dict[str, Any]] = {}
    card["metrics"] = []
    for g in spec.get("metrics", []):
        gid = g.get("id")
        if not gid or gid in groups:
            raise SpecError(f'{rel}: every metrics group needs a unique "id", got {gid!r}')
        doc = read_json(root, g.get("json"), f"{rel} metrics group {gid!r}")
        card["metrics"] += metric_rows(doc, g, names, card["name"], shared["probes"])
        groups[gid] = {"spec": g, "doc": doc}
    weights_file = card.get("weights", {}).get("file")
    if weights_file is not None:
        where = (
            Path(spec["directory"]) / "model.safetensors"
            if "directory" in spec
            else (Path("weights") / weights_file)
        )
        try:
            card["weights"]["sha256"] = hashlib.sha256((root / where).read_bytes()).hexdigest()
        except OSError as err:
            raise SpecError(f"{rel}: weights file {where} unreadable ({err})") from None
    try:
        built = PretrainedCard.from_dict(card)
    except (ValueError, TypeError) as err:
        raise SpecError(f"{rel}: invalid card ({err})") from None
    expected = Path(rel).name.removesuffix(".json")
    if built.name != expected:
        raise SpecError(f"{rel}: the card's name {built.name!r} must be the file name {expected!r}")
    return Entry(built, spec, groups)
