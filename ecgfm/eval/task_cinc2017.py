"""CinC 2017 single-lead 4-class task (N, A, O, ~) on a fixed, committed record-level split.

Records are cut into disjoint 10 s segments (the remainder is dropped; records under 10 s give
no segment and are not part of the task, as in ST-MEM's evaluation); a record's embedding is
the mean of its segments' embeddings and every metric is computed per record.

The split is a file, ``ecgfm/eval/splits/cinc2017_v3.json``, made once by
:func:`make_cinc2017_split` (stratified by class, 60/20/20, seed 0) from the 4,273 records of at
least 10 s among the 4,280 training records of the copy ecgfm was developed on (about half of the
8,528 challenge records). It lists every record with its v3 label. At load time:

- a record of the file that is not usable on disk (missing, unlabeled, under 10 s) stops the
  task with the list (``allow_missing=True`` evaluates the rest and says so in the notes);
- a record whose label differs from the file's stops the task (a different label version);
- records on disk that the file does not list (e.g. the full 8,528-record training set) are
  left out and counted in the notes, so numbers stay comparable with ecgfm's published ones.
  To use all of them, write your own split with :func:`make_cinc2017_split` and
  :func:`write_split_file`, and pass ``split_file=``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ecgfm.data import CINC2017_CLASSES, CinC2017
from ecgfm.data._optional import progress_iter
from ecgfm.eval.task_base import SPLITS, Task, TaskData, check_limit

__all__ = [
    "CINC2017_SPLIT_FILE",
    "CinC2017Task",
    "make_cinc2017_split",
    "read_split_file",
    "write_split_file",
]

logger = logging.getLogger(__name__)

CINC2017_SPLIT_FILE = Path(__file__).resolve().parent / "splits" / "cinc2017_v3.json"
_FORMAT = "ecgfm-record-split-v1"
_GENERATOR = "ecgfm.eval.task_cinc2017.make_cinc2017_split"


def make_cinc2017_split(
    root: str | os.PathLike[str],
    *,
    labels: str = "v3",
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    segment_seconds: float = 10.0,
) -> dict[str, Any]:
    """A stratified record-level train/val/test split of the CinC 2017 records under ``root``.

    Only records with at least one ``segment_seconds`` segment are split. Per class, record
    names are sorted, permuted with ``numpy.random.default_rng(seed)`` (classes in the order
    N, A, O, ~, one permutation each) and cut at ``round(n * fractions[0])`` and
    ``round(n * (fractions[0] + fractions[1]))``. The result depends only on the record
    names, their labels and the arguments.

    Returns:
        The split document written by :func:`write_split_file`.
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr <= 0).any() or abs(fr.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
    ds = CinC2017(root, labels, segment_seconds=segment_seconds)
    if not ds.recordings:
        raise ValueError(f"no CinC 2017 record of at least {segment_seconds:g} s under {root}")
    rng = np.random.default_rng(seed)
    label_of = dict(zip(ds.recordings, ds.recording_targets.tolist(), strict=True))
    parts: dict[str, list[list[str]]] = {s: [] for s in SPLITS}
    for k, cls in enumerate(CINC2017_CLASSES):
        names = sorted(n for n, y in label_of.items() if y == k)
        names = [names[i] for i in rng.permutation(len(names))]
        a = round(len(names) * fr[0])
        b = round(len(names) * (fr[0] + fr[1]))
        for split, chunk in zip(SPLITS, (names[:a], names[a:b], names[b:]), strict=True):
            parts[split].extend([n, cls] for n in chunk)
    for split in SPLITS:
        parts[split].sort()
    counts = {
        s: {c: sum(1 for _, lab in parts[s] if lab == c) for c in CINC2017_CLASSES} for s in SPLITS
    }
    return {
        "format": _FORMAT,
        "dataset": "CinC2017",
        "labels": labels,
        "segment_seconds": float(segment_seconds),
        "fractions": dict(zip(SPLITS, map(float, fr), strict=True)),
        "seed": int(seed),
        "generator": _GENERATOR,
        "counts": counts,
        "records": parts,
    }


def write_split_file(split: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a split document as JSON (one record per line, stable across runs)."""
    _validate(split, str(path))
    path = Path(path)
    head = {k: v for k, v in split.items() if k != "records"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=False)},")
    lines.append('  "records": {')
    for i, s in enumerate(SPLITS):
        rows = ",\n".join(f"      {json.dumps(r)}" for r in split["records"][s])
        end = "," if i < len(SPLITS) - 1 else ""
        lines.append(f"    {json.dumps(s)}: [\n{rows}\n    ]{end}")
    lines += ["  }", "}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_split_file(path: str | os.PathLike[str] = CINC2017_SPLIT_FILE) -> dict[str, Any]:
    """Read and validate a split document (default: the committed CinC 2017 v3 split)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"split file {path} not found; make one with make_cinc2017_split(root) and "
            "write_split_file(split, path)"
        )
    split = json.loads(path.read_text(encoding="utf-8"))
    _validate(split, str(path))
    return split


def _validate(split: Any, where: str) -> None:
    if not isinstance(split, dict) or split.get("format") != _FORMAT:
        raise ValueError(f"{where}: not an ecgfm record split (format {_FORMAT!r})")
    records = split.get("records")
    if not isinstance(records, dict) or sorted(records) != sorted(SPLITS):
        raise ValueError(f"{where}: 'records' must map each of {SPLITS} to [name, label] rows")
    seen: set[str] = set()
    for s in SPLITS:
        for row in records[s]:
            if not (isinstance(row, list) and len(row) == 2 and row[1] in CINC2017_CLASSES):
                raise ValueError(f"{where}: bad row {row!r} in {s!r}; expected [name, label]")
            if row[0] in seen:
                raise ValueError(f"{where}: record {row[0]} is listed twice")
            seen.add(row[0])


def _limited(rows: list[list[str]], limit: int | None) -> list[list[str]]:
    """At most ``limit`` rows, taking classes in turn (file order within a class)."""
    if limit is None or len(rows) <= limit:
        return rows
    by_class = [[r for r in rows if r[1] == c] for c in CINC2017_CLASSES]
    out: list[list[str]] = []
    depth = 0
    while len(out) < limit:
        for group in by_class:
            if depth < len(group) and len(out) < limit:
                out.append(group[depth])
        depth += 1
    return sorted(out)


class CinC2017Task(Task):
    """PhysioNet/CinC 2017, single lead (lead-I-like), classes N / A / O / ~.

    Args:
        split_file: record split (default: the committed ``cinc2017_v3.json``).
        allow_missing: evaluate on the split's records that are usable on disk when some are
            not (default: refuse, listing them).
        segment_seconds: segment length; must equal the split file's.
    """

    name = "cinc2017"
    description = "CinC 2017 single-lead 4-class (N, A, O, ~), 10 s segments averaged per record"
    leads = ("I",)
    multilabel = False

    def __init__(
        self,
        *,
        split_file: str | os.PathLike[str] | None = None,
        allow_missing: bool = False,
        segment_seconds: float = 10.0,
    ) -> None:
        self.split_file = Path(split_file) if split_file is not None else CINC2017_SPLIT_FILE
        self.allow_missing = bool(allow_missing)
        self.segment_seconds = float(segment_seconds)

    def load(
        self, root: str | os.PathLike[str], *, limit: int | None = None, progress: bool = False
    ) -> TaskData:
        limit = check_limit(limit)
        split = read_split_file(self.split_file)
        if float(split["segment_seconds"]) != self.segment_seconds:
            raise ValueError(
                f"{self.split_file} was made for {split['segment_seconds']} s segments, the task "
                f"uses {self.segment_seconds:g} s; make a split for this length"
            )
        ds = CinC2017(root, split["labels"], segment_seconds=self.segment_seconds)
        usable = dict(zip(ds.recordings, ds.recording_targets.tolist(), strict=True))
        notes: list[str] = []
        rows = {s: list(split["records"][s]) for s in SPLITS}
        listed = {name for s in SPLITS for name, _ in rows[s]}
        absent = sorted(listed - set(usable))
        wrong = sorted(
            f"{n} (file {lab}, disk {CINC2017_CLASSES[usable[n]]})"
            for s in SPLITS
            for n, lab in rows[s]
            if n in usable and CINC2017_CLASSES[usable[n]] != lab
        )
        if wrong:
            raise ValueError(
                f"{len(wrong)} records have another label on disk ({split['labels']} labels) "
                f"than in {self.split_file}: {', '.join(wrong[:5])}; the data are a different "
                "label version, make a split for them"
            )
        if absent:
            msg = (
                f"{len(absent)} of the {len(listed)} records of {self.split_file.name} are not "
                f"usable under {root} (missing, unlabeled or under {self.segment_seconds:g} s): "
                f"{', '.join(absent[:8])}{' ...' if len(absent) > 8 else ''}"
            )
            if not self.allow_missing:
                raise FileNotFoundError(
                    msg + "; results would not be comparable. Pass allow_missing=True "
                    "(--allow-missing) to evaluate the rest"
                )
            logger.warning("%s; evaluating the remaining records", msg)
            notes.append(msg + "; they are left out")
            rows = {s: [r for r in rows[s] if r[0] in usable] for s in SPLITS}
        extra = sorted(set(usable) - listed)
        if extra:
            msg = (
                f"{len(extra)} usable records on disk are not in {self.split_file.name} and are "
                "left out (the committed split covers the records of ecgfm's development copy); "
                "to use them, write a split with make_cinc2017_split and pass split_file="
            )
            logger.warning("CinC 2017 task: %s", msg)
            notes.append(msg)
        if ds.too_short:
            notes.append(f"{len(ds.too_short)} records under 10 s on disk give no segment")
        if limit is not None:
            rows = {s: _limited(rows[s], limit) for s in SPLITS}
            notes.append(f"limited to at most {limit} records per split (not a full run)")
        chosen = sorted((name, s) for s in SPLITS for name, _ in rows[s])
        record_ids = tuple(name for name, _ in chosen)
        position = {name: i for i, name in enumerate(record_ids)}
        items = [i for i, r in enumerate(ds.record_ids) if r in position]
        signals = np.empty((len(items), 1, int(ds.segment_samples or 0)), dtype=np.float32)
        for j, i in enumerate(progress_iter(items, total=len(items), desc="CinC 2017",
                                            enabled=progress)):  # fmt: skip
            signals[j] = ds[i].signal
        return TaskData(
            task=self.name,
            signals=signals,
            fs=ds.fs,
            leads=ds.leads,
            item_record=np.asarray([position[ds.record_ids[i]] for i in items], dtype=np.int64),
            record_ids=record_ids,
            labels=np.asarray([usable[n] for n in record_ids], dtype=np.int64),
            classes=CINC2017_CLASSES,
            split=np.asarray([s for _, s in chosen]),
            notes=tuple(notes),
            source={
                "dataset": "CinC2017",
                "root": str(Path(root).resolve()),
                "labels": split["labels"],
                "segment_seconds": self.segment_seconds,
                "split_file": self.split_file.name,
                "limit": limit,
            },
        )
