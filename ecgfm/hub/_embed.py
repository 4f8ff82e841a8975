"""Embedding of user data with a pretrained encoder: validate, prepare, batch, pool.

Policy (documented in docs/hub.md):

1. Input: one record (``(C, T)`` array/tensor or an :class:`~ecgfm.signal.ECGRecord`) or a batch
   (``(B, C, T)``, a list of arrays — lengths may differ — or a list of records, each with its
   own ``fs`` and leads). Values are converted to mV from ``units`` and validated
   (:func:`ecgfm.signal.as_signal`).
2. The card's preset prepares every record: selects/reorders leads (deriving III, aVR, aVL,
   aVF from two limb leads when needed), resamples to the card's ``fs``, filters the whole
   record, cuts windows of the card's length and normalises each window. Default
   ``windows="all"``: disjoint windows from the start, plus one last window aligned to the
   end when a remainder is left, so every sample is seen (the last two windows then overlap).
   Records shorter than a window but at least the preset's ``min_length`` give one
   zero-padded window; shorter ones are an error.
3. The encoder runs on the windows in ``torch.inference_mode`` (optionally under bf16
   autocast), ``batch_size`` windows at a time. A Net1D (ECGFounder/SelfMIS) encoder on the
   CPU in float32 runs through its fast inference path
   (:func:`ecgfm.models.optimize_for_inference`: same embeddings up to ~1e-6, 1.5-2x
   faster) unless ``fast=False``; ``quantize="int8"`` (opt-in, approximate: cosine >= 0.999
   with the float32 embedding in ecgfm's measurements) adds dynamic int8 1x1 convolutions.
4. A record's embedding is the **mean of its windows' embeddings** (``reduce="mean"``);
   ``reduce="none"`` returns every window's embedding with its record index instead.

Everything is deterministic: no random crop, no dropout (the model is in ``eval()``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ecgfm.hub._embed_input import Item, RecordIssue, relabel, split_input, validate_item

__all__ = [
    "EmbedResult",
    "Prepared",
    "RecordIssue",
    "embed_windows",
    "fast_embedding_fn",
    "pool_windows",
    "prepare_inputs",
    "run_windows",
]

WindowPolicy = Literal["all", "disjoint", "center", "first", "spaced"]
_WINDOW_POLICIES: tuple[str, ...] = ("all", "disjoint", "center", "first", "spaced")
Reduce = Literal["mean", "none"]
Errors = Literal["raise", "collect"]


@dataclass(frozen=True)
class Prepared:
    """Model-ready windows of a set of records; unpacks as ``windows, record_index``.

    ``windows, record_index = model.prepare(...)`` works like ``preset.prepare(...)``.

    Attributes:
        windows: ``(N, C, length)`` float32, preprocessed as the card says.
        record_index: ``(N,)`` long, the input position (0..B-1) of each window's record.
        num_records: ``B``, the number of input records.
        single: the input was one record (``embed`` then returns ``(D,)``, not ``(1, D)``).
        indices: input positions of the records that gave windows, in order (``None``: all).
        failures: records that failed (only with ``errors="collect"``).
        warnings: degenerate but usable records (flat leads, spikes, repaired NaN/Inf).
    """

    windows: torch.Tensor
    record_index: torch.Tensor
    num_records: int
    single: bool
    indices: tuple[int, ...] | None = None
    failures: tuple[RecordIssue, ...] = ()
    warnings: tuple[RecordIssue, ...] = ()

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield self.windows
        yield self.record_index

    @property
    def succeeded(self) -> tuple[int, ...]:
        """Input positions of the records that gave windows."""
        return tuple(range(self.num_records)) if self.indices is None else self.indices


@dataclass(frozen=True, eq=False)
class EmbedResult:
    """What ``embed(..., errors="collect")`` returns: what could be embedded, and what not.

    Attributes:
        embeddings: ``reduce="mean"``: ``(len(indices), D)`` float32, row ``i`` the record at
            input position ``indices[i]``; ``reduce="none"``: ``(N, D)``, one row per window.
            Numpy or torch, as ``embed`` would return them (always 2-D, also for one record).
        indices: ``(len(indices),)`` int64, the input positions of the records embedded.
        record_index: ``reduce="none"``: ``(N,)`` input position of each window's record;
            ``None`` otherwise.
        failures: one :class:`RecordIssue` per record that could not be embedded, with its
            position, id, message and exception (``failure.error``), in input order.
        warnings: degenerate but embedded records (flat leads, spikes, repaired NaN/Inf),
            also issued as :class:`ecgfm.signal.ECGQualityWarning`.
        num_records: the number of input records.
    """

    embeddings: Any
    indices: Any
    record_index: Any
    failures: tuple[RecordIssue, ...]
    warnings: tuple[RecordIssue, ...]
    num_records: int

    @property
    def ok(self) -> bool:
        """Every record was embedded."""
        return not self.failures

    @property
    def failed_indices(self) -> list[int]:
        """Input positions of the failed records."""
        return [f.index for f in self.failures]

    def full(self, fill_value: float = float("nan")) -> Any:
        """``(num_records, D)`` embeddings in input order, ``fill_value`` rows for failures.

        Only for ``reduce="mean"`` results (windows have no row per record).
        """
        if self.record_index is not None:
            raise ValueError("full() needs reduce='mean' results (one row per record)")
        shape = (self.num_records, int(self.embeddings.shape[1]))
        if isinstance(self.embeddings, torch.Tensor):
            out = self.embeddings.new_full(shape, fill_value)
            out[self.indices] = self.embeddings
            return out
        out_np = np.full(shape, fill_value, np.float32)
        out_np[self.indices] = self.embeddings
        return out_np

    def __repr__(self) -> str:
        failed = ", ".join(str(f.index) for f in self.failures[:10])
        more = ", ..." if len(self.failures) > 10 else ""
        return (
            f"EmbedResult(embeddings {tuple(self.embeddings.shape)}: {len(self.indices)} of "
            f"{self.num_records} records embedded, failures [{failed}{more}], "
            f"{len(self.warnings)} warnings)"
        )


def _check_errors(errors: Any) -> None:
    if errors not in ("raise", "collect"):
        raise ValueError(
            f"errors must be 'raise' (stop at the first bad record) or 'collect' (embed the "
            f"others and list the failures), got {errors!r}"
        )


def _stack(sigs: list[Any]) -> Any:
    if isinstance(sigs[0], torch.Tensor):
        return torch.stack([s.to(sigs[0].device) for s in sigs])
    return np.stack(sigs)


def _group_key(sig: Any, fs: float) -> tuple[Any, ...]:
    device = str(sig.device) if isinstance(sig, torch.Tensor) else "numpy"
    return (fs, int(sig.shape[-1]), device)


def prepare_inputs(
    preset: Any,
    x: Any,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    units: str | None = None,
    windows: WindowPolicy = "all",
    nan_policy: str | None = None,
    errors: Errors = "raise",
) -> Prepared:
    """Validate ``x`` and turn it into the preset's windows (see the module docstring).

    Records are validated one by one (messages name the record); records of the same rate and
    length are then prepared together, up to 256 at a time. With ``errors="raise"`` the first
    bad record raises (its message names it); with ``"collect"`` it is listed in
    ``failures`` and the others are prepared.
    """
    if nan_policy is None:
        nan_policy = preset.nan_policy
    if nan_policy not in ("raise", "zero"):
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")
    if windows not in _WINDOW_POLICIES:
        raise ValueError(
            f"windows must be one of {list(_WINDOW_POLICIES)} (embedding is deterministic: no "
            f"'random'), got {windows!r}"
        )
    _check_errors(errors)
    items, single = split_input(x, fs, leads, units)
    hint = (
        " (pass errors='collect' to embed the other records and get the failures listed)"
        if len(items) > 1 and errors == "raise"
        else ""
    )
    failures: list[RecordIssue] = []
    notes: list[RecordIssue] = []
    model_leads = None if preset.leads is None else tuple(preset.leads)

    def fail(item: Item, err: Exception) -> None:
        new = relabel(err, item.label, hint)
        if errors == "raise":
            raise new from None
        failures.append(RecordIssue(item.index, item.record_id, str(new), new))

    valid: list[tuple[Item, Any, tuple[str, ...]]] = []
    first_error: tuple[Item, Exception] | None = None
    for item in items:
        try:
            sig, names, item_notes = validate_item(item, model_leads, nan_policy)
        except Exception as err:  # every record failure is named (and collected if asked)
            if errors == "raise":  # raised after the records before it are prepared
                first_error = (item, err)
                break
            fail(item, err)
            continue
        notes.extend(RecordIssue(item.index, item.record_id, n) for n in item_notes)
        valid.append((item, sig, names))

    out_windows: list[torch.Tensor] = []
    out_index: list[torch.Tensor] = []
    done: list[int] = []

    def run(group: list[tuple[Item, Any, tuple[str, ...]]]) -> None:
        item0, _, names = group[0]
        try:
            w, idx = preset.prepare(
                _stack([g[1] for g in group]), item0.fs, names, windows=windows,
                nan_policy=nan_policy,
            )  # fmt: skip
        except Exception as err:
            if len(group) > 1:  # find the record(s) responsible
                for member in group:
                    run([member])
                return
            fail(item0, err)
            return
        positions = torch.as_tensor([g[0].index for g in group], dtype=torch.long)
        out_windows.append(w)
        out_index.append(positions.to(idx.device)[idx.to(torch.long)])
        done.extend(g[0].index for g in group)

    group: list[tuple[Item, Any, tuple[str, ...]]] = []
    for entry in valid:
        if group and (
            len(group) == 256
            or _group_key(entry[1], entry[0].fs) != _group_key(group[0][1], group[0][0].fs)
        ):
            run(group)
            group = []
        group.append(entry)
    if group:
        run(group)
    if first_error is not None:  # no record before it failed: it is the first bad record
        fail(*first_error)
    n_ch = len(model_leads) if model_leads is not None else 0
    if out_windows:
        device = out_windows[0].device
        all_w = torch.cat([w.to(device) for w in out_windows])
        all_i = torch.cat([i.to(device) for i in out_index])
    else:
        all_w = torch.zeros(0, n_ch, int(preset.length))
        all_i = torch.zeros(0, dtype=torch.long)
    indices = None if len(done) == len(items) else tuple(sorted(done))
    failures.sort(key=lambda f: f.index)
    return Prepared(all_w, all_i, len(items), single, indices, tuple(failures), tuple(notes))


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def fast_embedding_fn(
    encoder: nn.Module,
    *,
    fast: bool = True,
    quantize: str | None = None,
    autocast_dtype: torch.dtype | None = None,
    compile: bool = False,
) -> Any:
    """The Net1D fast path for ``encoder`` if it applies, else ``None``.

    It applies when ``fast`` is true and ``encoder`` is a :class:`~ecgfm.models.net1d.Net1D`
    with float32 weights on the CPU, without autocast. ``quantize="int8"`` must be asked for
    explicitly and is an error where the fast path does not apply (rather than silently
    ignored).
    """
    from ecgfm.models.net1d import Net1D
    from ecgfm.models.net1d_inference import optimize_for_inference

    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    ref = next(encoder.parameters(), None)
    applies = (
        fast
        and isinstance(encoder, Net1D)
        and autocast_dtype is None
        and ref is not None
        and ref.device.type == "cpu"
        and ref.dtype == torch.float32
    )
    if not applies:
        if quantize is not None:
            raise ValueError(
                "quantize='int8' needs the fast path: a Net1D encoder with float32 weights on "
                "the CPU, fast=True and no bf16 precision"
            )
        return None
    return optimize_for_inference(encoder, quantize=quantize, compile=compile)  # type: ignore[arg-type]


def run_windows(
    encoder: nn.Module,
    windows: torch.Tensor,
    *,
    batch_size: int = 64,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
    fast: bool = True,
    quantize: str | None = None,
) -> torch.Tensor:
    """``encoder.forward_embedding`` of windows ``(N, C, L)``, ``batch_size`` at a time.

    Runs in ``torch.inference_mode`` in eval mode (the training flag is restored), through the
    Net1D fast path where it applies (:func:`fast_embedding_fn`). Returns ``(N, D)`` float32 on
    the CPU; non-finite rows are left for the caller to judge.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if autocast_dtype not in (None, torch.bfloat16, torch.float16):
        raise ValueError(
            f"autocast_dtype must be None, torch.bfloat16 or torch.float16, got {autocast_dtype}"
        )
    device = _model_device(encoder)
    dtype = next((p.dtype for p in encoder.parameters()), torch.float32)
    slices = list(_chunks(windows.shape[0], batch_size))
    iterator: Any = slices
    if progress:
        with contextlib.suppress(ImportError):
            from tqdm.auto import tqdm

            iterator = tqdm(slices, desc="embedding", unit="batch")
    was_training = encoder.training
    fast_fn = fast_embedding_fn(
        encoder, fast=fast, quantize=quantize, autocast_dtype=autocast_dtype
    )  # fmt: skip
    embed = encoder.forward_embedding if fast_fn is None else fast_fn
    encoder.eval()
    outs: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for sl in iterator:
                xb = windows[sl].to(device=device, dtype=dtype)
                ctx = (
                    torch.autocast(device_type=device.type, dtype=autocast_dtype)
                    if autocast_dtype is not None
                    else contextlib.nullcontext()
                )
                with ctx:
                    emb = embed(xb)
                outs.append(emb.float().cpu())
    finally:
        encoder.train(was_training)
    if not outs:
        return torch.zeros(0, int(getattr(encoder, "num_features", 0)))
    return torch.cat(outs)


def nonfinite_records(per_window: torch.Tensor, record_index: torch.Tensor) -> list[int]:
    """Input positions of the records with a NaN/Inf window embedding, sorted."""
    bad = ~torch.isfinite(per_window).all(dim=1)
    return sorted(set(record_index.cpu()[bad.cpu()].tolist()))


NONFINITE_ADVICE = (
    "the encoder produced NaN/Inf embeddings; check the input (flat or saturated signals) "
    "or disable reduced-precision autocast"
)


def pool_windows(
    per_window: torch.Tensor, record_index: torch.Tensor, positions: Sequence[int]
) -> torch.Tensor:
    """Mean window embedding of each record in ``positions``: ``(len(positions), D)`` float32.

    ``record_index`` holds the input position of each window; every position must have one.
    """
    index = record_index.cpu().to(torch.long)
    pos = torch.as_tensor(list(positions), dtype=torch.long)
    size = max((int(t.max()) for t in (pos, index) if t.numel()), default=-1)
    row = torch.full((size + 1,), -1, dtype=torch.long)
    row[pos] = torch.arange(pos.numel())
    compact = row[index]
    if (compact < 0).any():
        raise RuntimeError("a window belongs to no listed record; this is a bug in ecgfm")
    sums = torch.zeros(pos.numel(), per_window.shape[1], dtype=torch.float64)
    sums.index_add_(0, compact, per_window.double())
    counts = torch.bincount(compact, minlength=pos.numel()).to(torch.float64)
    if (counts == 0).any():
        missing = pos[counts == 0].tolist()
        raise RuntimeError(f"records {missing} produced no window; this is a bug in the preset")
    return (sums / counts[:, None]).float()


def embed_windows(
    encoder: nn.Module,
    prepared: Prepared,
    *,
    batch_size: int = 64,
    autocast_dtype: torch.dtype | None = None,
    reduce: Reduce = "mean",
    progress: bool = False,
    fast: bool = True,
    quantize: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``encoder.forward_embedding`` on prepared windows and pool them per record.

    ``fast``/``quantize``: see :func:`fast_embedding_fn` (a float32 Net1D on the CPU runs
    through its fast path by default; ``fast=False`` runs ``forward_embedding`` itself).

    Returns ``(embeddings, record_index)``: with ``reduce="mean"`` embeddings are
    ``(len(prepared.succeeded), D)`` float32 on the CPU (``(B, D)`` when every record gave
    windows) and ``record_index`` is None; with ``reduce="none"`` they are ``(N, D)`` with the
    ``(N,)`` record index of each window. NaN/Inf embeddings raise ``FloatingPointError``
    naming the records.
    """
    if reduce not in ("mean", "none"):
        raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")
    per_window = run_windows(
        encoder, prepared.windows, batch_size=batch_size, autocast_dtype=autocast_dtype,
        progress=progress, fast=fast, quantize=quantize,
    )  # fmt: skip
    bad = nonfinite_records(per_window, prepared.record_index)
    if bad:
        raise FloatingPointError(f"records {bad[:10]}: {NONFINITE_ADVICE}")
    if reduce == "none":
        return per_window, prepared.record_index.clone()
    return pool_windows(per_window, prepared.record_index, prepared.succeeded), None
