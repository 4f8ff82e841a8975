"""View generators for contrastive pre-training: SelfCut, CMSC, Interleave, RLM, Stochastic.

A view generator maps one record ``(C, T)`` or a batch ``(B, C, T)`` (numpy or torch, CPU or
CUDA, or an :class:`~ecgfm.signal.ECGRecord`) to a **tuple of** :class:`View` —
``View(x, fs, leads)``: the view's signal, its sampling rate and its lead names. Views are
batched like the input; numpy in gives numpy out. The input's sampling rate comes from the
record, from ``fs=`` given with the call, or from the generator's ``fs=``; an array with
none of them is refused (there is no default rate; see :mod:`ecgfm.transforms._rate`).

All randomness is drawn per record from the optional ``torch.Generator`` (CPU by default:
the same seed gives the same views on every device; see :mod:`ecgfm.transforms._random`).

Memory: CMSC and Interleave views are slices of the input (no copy). With random lead
masking they are slices of one new masked tensor; inside
:class:`~ecgfm.transforms.views_data.ViewCollate`, which owns the batch it stacks, slices of
that batch with the masked leads zeroed in place (one copy saved). Views may therefore be
non-contiguous; call ``.contiguous()`` where a kernel needs it. The ``inplace=`` keyword of
earlier releases is deprecated (accepted with a ``DeprecationWarning``).

References: SelfMIS self-cutting (lead I vs. 12 leads); CLOCS CMSC (temporal segments);
random lead masking (Oh et al., "Lead-agnostic self-supervised learning..."); Dual-View
interleaved subsampling and stochastic pool (methods.md section 5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from ecgfm.leads import CANONICAL_LEADS, MissingLeadError, normalize_lead_names, select_leads
from ecgfm.signal import ECGRecord, check_fs
from ecgfm.transforms import _alloc
from ecgfm.transforms import _random as R
from ecgfm.transforms._fill import zero_where_
from ecgfm.transforms._rate import common_rate, resolve_rate
from ecgfm.transforms.augment import Augmentation, AugmentationPipeline, dual_view_ops

__all__ = [
    "CMSC",
    "Interleave",
    "MultiView",
    "RandomLeadMasking",
    "SelfCut",
    "Stochastic",
    "View",
    "ViewGenerator",
]

Remainder = Literal["error", "drop"]

_VIEW_ADVICE = (
    "drop it: a view generator leaves its input untouched, and ViewCollate (the collate_fn "
    "for DataLoaders) already works in place on the batch it stacks"
)


class View(NamedTuple):
    """One view of a record or batch.

    Attributes:
        x: the signal, ``(C, T)`` or ``(B, C, T)``, numpy array or torch tensor.
        fs: its sampling rate in Hz (``fs / n`` for an interleaved view).
        leads: names of its ``C`` channels, in order.
    """

    x: Any
    fs: float
    leads: tuple[str, ...]


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class RandomLeadMasking:
    """Random lead masking (RLM): zero each lead of each view independently with prob. ``p``.

    Applied per record: every record (and every view) draws its own mask. Masked leads are
    set to exactly 0.

    Args:
        p: masking probability of each lead (default 0.5, as in the Dual-View and
            lead-agnostic SSL papers).
        keep_one: if every lead of a record would be masked, unmask one lead chosen uniformly
            (the effective rate is then slightly below ``p``: ``p - p**C / C`` per lead).

    Call it on an array/tensor ``(C, T)``/``(B, C, T)`` (returns the same kind), on a
    :class:`View` (returns a View) or on a tuple of Views (each masked independently).
    """

    def __init__(self, p: float = 0.5, keep_one: bool = False) -> None:
        self.p = R.check_probability(p)
        self.keep_one = bool(keep_one)

    def draw(self, shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
        """Keep-mask ``(..., C)`` bool on the CPU; ``True`` = lead kept."""
        masked = R.rand(shape, generator).cpu() < self.p
        if self.keep_one:
            pick = R.randint(0, shape[-1], shape[:-1], generator).cpu()
            rescue = masked.all(dim=-1)
            masked[rescue, pick[rescue]] = False
        return ~masked

    def __call__(
        self,
        x: Any,
        *,
        generator: torch.Generator | None = None,
        check_finite: bool = True,
        inplace: bool | None = None,
    ) -> Any:
        """Mask ``x``; ``inplace`` is deprecated (a ``DeprecationWarning``; honoured)."""
        overwrite = R.deprecated_inplace(inplace, "RandomLeadMasking", _VIEW_ADVICE)
        generator = R.check_generator(generator)
        return self._mask(x, generator, check_finite, overwrite)

    def _mask(
        self, x: Any, generator: torch.Generator | None, check_finite: bool, overwrite: bool
    ) -> Any:
        """:meth:`__call__`; ``overwrite`` zeroes the masked leads of ``x`` itself."""
        if isinstance(x, tuple) and x and all(isinstance(v, View) for v in x):
            return tuple(self._mask(v, generator, check_finite, overwrite) for v in x)
        if isinstance(x, View):
            return View(self._mask(x.x, generator, check_finite, overwrite), x.fs, x.leads)
        batch, restore = R.as_batch(
            x, "RandomLeadMasking", min_samples=1, finite=check_finite, writable=overwrite
        )
        keep = self.draw(batch.shape[:2], generator)
        if overwrite:
            zero_where_(batch, ~keep)
            return restore(batch)
        mask = R.param(keep, batch, *keep.shape, 1)
        if batch.requires_grad:  # out= is not differentiable
            return restore(batch * mask)
        return restore(torch.mul(batch, mask, out=_alloc.empty(batch.shape, batch)))

    def __repr__(self) -> str:
        return f"RandomLeadMasking(p={self.p}, keep_one={self.keep_one})"


def _fs_repr(fs: float | None) -> str:
    return "None" if fs is None else f"{fs:g}"


class ViewGenerator:
    """Base class: turns a record or batch into a tuple of :class:`View`.

    Args:
        fs: sampling rate of the input in Hz, or ``None`` (default) to take it from each
            input: an :class:`~ecgfm.signal.ECGRecord` carries it, an array needs ``fs=`` with
            the call. A generator built with ``fs`` refuses input at another rate.
        leads: lead names of the input channels (default: the canonical 12 leads).

    ``__call__(x, *, fs=None, generator=None, check_finite=True)`` accepts a numpy array or
    torch tensor ``(C, T)``/``(B, C, T)`` or an ECGRecord (whose ``leads`` must match the
    generator's) and leaves it untouched. Every view is labelled with the resolved rate
    (``fs / n`` for an interleaved view). ``check_finite=False`` skips the NaN/Inf check (one
    reduction over the batch) for data validated upstream. ``inplace=`` is deprecated.
    """

    #: fewest samples the input must have
    min_samples: int = 1

    def __init__(self, *, fs: float | None = None, leads: Sequence[str] = CANONICAL_LEADS) -> None:
        self.fs = None if fs is None else check_fs(fs)
        self.leads = normalize_lead_names(leads)

    def __call__(
        self,
        x: Any,
        *,
        fs: float | None = None,
        generator: torch.Generator | None = None,
        check_finite: bool = True,
        inplace: bool | None = None,
    ) -> tuple[View, ...]:
        overwrite = R.deprecated_inplace(inplace, type(self).__name__, _VIEW_ADVICE)
        return self._generate(x, fs, generator, check_finite, overwrite)

    def _generate(
        self,
        x: Any,
        fs: float | None,
        generator: torch.Generator | None,
        check_finite: bool,
        overwrite: bool,
    ) -> tuple[View, ...]:
        """:meth:`__call__`; ``overwrite`` lets the views reuse (and overwrite) the input's
        memory, for callers that own it (:class:`~ecgfm.transforms.views_data.ViewCollate`)."""
        generator = R.check_generator(generator)
        what = type(self).__name__
        src = resolve_rate(x, fs, self.fs, what, required=True, rebuild=self._rebuild_advice())
        if src.record is not None:
            self._check_leads(src.record)
        batch, restore = R.as_batch(
            src.signal,
            what,
            min_samples=self.min_samples,
            finite=check_finite,
            writable=overwrite,
        )
        if batch.shape[1] != len(self.leads):
            raise ValueError(
                f"{what}: the input has {batch.shape[1]} channels but the generator was "
                f"built for {len(self.leads)} leads {list(self.leads)}; pass leads=[...] "
                "naming the input's channels"
            )
        assert src.fs is not None  # required=True
        views = self._views(batch, src.fs, generator, overwrite)
        return tuple(View(restore(v), v_fs, leads) for v, v_fs, leads in views)

    def _rebuild_advice(self) -> str:
        """Advice for building the generator for another rate (a format string of ``fs``)."""
        return "build the generator without fs= (each input's rate is then used) or with fs={fs:g}"

    def _check_record(self, record: ECGRecord) -> float:
        """The rate of ``record``; refuse it if its rate or leads differ from the generator's."""
        what, advice = type(self).__name__, self._rebuild_advice()
        rate = resolve_rate(record, None, self.fs, what, required=True, rebuild=advice).fs
        self._check_leads(record)
        assert rate is not None
        return rate

    def _check_leads(self, record: ECGRecord) -> None:
        if tuple(record.leads) != self.leads:
            raise ValueError(
                f"{type(self).__name__} was built for leads {list(self.leads)}, but the "
                f"record has leads {list(record.leads)}; record.select(...) first, or build "
                "the generator with leads= matching the data"
            )

    def _views(
        self, x: torch.Tensor, fs: float, generator: torch.Generator | None, overwrite: bool
    ) -> list[tuple[torch.Tensor, float, tuple[str, ...]]]:
        """The views of a validated batch ``(B, C, T)`` at ``fs`` Hz: ``(x, fs, leads)`` each.

        ``overwrite``: the caller owns ``x``, which the views may reuse and modify."""
        raise NotImplementedError


class SelfCut(ViewGenerator):
    """SelfMIS self-cutting: ``(single-lead view, the untouched multi-lead record)``.

    The first view is lead ``lead`` (default I) exactly as it is in the input (a slice, no
    copy); the second is the input itself. No augmentation.

    Args:
        lead: the lead to cut (aliases accepted).
        derive: if ``lead`` is missing but derivable from the present limb leads (e.g. lead I
            from II and III), compute it; otherwise a missing lead raises ``MissingLeadError``.
        fs, leads: see :class:`ViewGenerator`.
    """

    def __init__(
        self,
        lead: str = "I",
        *,
        derive: bool = False,
        fs: float | None = None,
        leads: Sequence[str] = CANONICAL_LEADS,
    ) -> None:
        super().__init__(fs=fs, leads=leads)
        (self.lead,) = normalize_lead_names([lead])
        self.derive = bool(derive)
        if self.lead not in self.leads:
            try:
                select_leads(np.zeros((len(self.leads), 2), np.float32), self.leads, [self.lead])
            except MissingLeadError:
                raise MissingLeadError(
                    f"SelfCut: lead {self.lead!r} is not among the input leads "
                    f"{list(self.leads)} and cannot be derived from them"
                ) from None
            if not self.derive:
                raise MissingLeadError(
                    f"SelfCut: lead {self.lead!r} is not among the input leads "
                    f"{list(self.leads)}; pass derive=True to compute it from the limb leads"
                )

    def _views(self, x, fs, generator, overwrite):
        if self.lead in self.leads:
            i = self.leads.index(self.lead)
            single = x[:, i : i + 1]
        else:
            single = select_leads(x, self.leads, [self.lead])
        return [(single, fs, (self.lead,)), (x, fs, self.leads)]

    def __repr__(self) -> str:
        return f"SelfCut(lead={self.lead!r}, derive={self.derive}, fs={_fs_repr(self.fs)})"


class _SplitViews(ViewGenerator):
    """Shared machinery of CMSC and Interleave: split time into ``n`` parts, optional RLM."""

    def __init__(
        self,
        n: int,
        rlm: RandomLeadMasking | float | None,
        remainder: Remainder,
        fs: float | None,
        leads: Sequence[str],
        name: str,
    ) -> None:
        super().__init__(fs=fs, leads=leads)
        self.n = _check_int(n, name, 2)
        if rlm is None or isinstance(rlm, RandomLeadMasking):
            self.rlm = rlm
        elif isinstance(rlm, (int, float)) and not isinstance(rlm, bool):
            self.rlm = RandomLeadMasking(rlm)
        else:
            raise TypeError(
                f"rlm must be None, a RandomLeadMasking or a masking probability, got {rlm!r}"
            )
        if remainder not in ("error", "drop"):
            raise ValueError(f"remainder must be 'error' or 'drop', got {remainder!r}")
        self.remainder = remainder

    def _parts(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, n, T // n)`` view of the input (no copy); part ``k`` is view ``k``."""
        raise NotImplementedError

    def _length(self, x: torch.Tensor) -> int:
        n_t, n = x.shape[-1], self.n
        if n_t < n:
            raise ValueError(
                f"{type(self).__name__}: cannot make {n} views of a {n_t}-sample signal "
                f"(each view would be shorter than one sample); use fewer views or a longer "
                "signal"
            )
        if n_t % n and self.remainder == "error":
            raise ValueError(
                f"{type(self).__name__}: T = {n_t} samples does not split into {n} equal "
                f"views; crop the signal to a multiple of {n} or pass remainder='drop' to "
                f"drop the last {n_t % n} sample(s)"
            )
        return n_t // n

    def _view_fs(self, fs: float) -> float:
        """Sampling rate of the views of input at ``fs`` Hz."""
        return fs

    def _mask_inplace_(self, x: torch.Tensor, parts: torch.Tensor, masked: torch.Tensor) -> None:
        """Zero the masked leads of each view in place.

        Args:
            x: the batch ``(B, C, T)``.
            parts: its ``(B, C, n, T // n)`` view.
            masked: ``(B, C, n)`` bool (CPU), ``True`` = lead masked in that view.

        CMSC's parts are contiguous: one pass zeroes them (a ``memset`` per masked part).
        Interleave's per-view samples are strided, so a lead masked in every view is zeroed
        as one contiguous run of ``x`` and only the other masked (lead, view) pairs through
        the strided ``parts``.
        """
        if parts.stride(-1) == 1:
            zero_where_(parts, masked)
            return
        every = masked.all(-1)  # (B, C)
        zero_where_(x[..., : self.n * parts.shape[-1]], every)
        zero_where_(parts, masked & ~every.unsqueeze(-1))

    def _views(self, x, fs, generator, overwrite):
        parts = self._parts(x)
        if self.rlm is not None:
            b, c = x.shape[:2]
            keep = self.rlm.draw((b, self.n, c), generator)  # (B, n, C)
            if overwrite:
                self._mask_inplace_(x, parts, ~keep.transpose(1, 2))
            else:
                mask = R.param(keep.transpose(1, 2), x, b, c, self.n, 1)
                if x.requires_grad:  # out= is not differentiable
                    parts = parts * mask
                else:  # the product in fresh memory laid out like `x` (see _alloc)
                    out = _alloc.empty((b, c, self.n * parts.shape[-1]), x)
                    parts = torch.mul(parts, mask, out=self._parts(out))
        view_fs = self._view_fs(fs)
        return [(parts[:, :, k], view_fs, self.leads) for k in range(self.n)]


class CMSC(_SplitViews):
    """CMSC (CLOCS): ``n`` non-overlapping consecutive temporal segments, optional RLM.

    View ``k`` is samples ``[k*T/n, (k+1)*T/n)`` of every lead. Segments concatenate back to
    the input (without RLM).

    Args:
        n_segments: number of segments/views (default 2 halves).
        rlm: random lead masking applied to every view independently: a
            :class:`RandomLeadMasking`, a probability (shortcut), or ``None`` (default).
        remainder: ``"error"`` (default) if ``T`` is not a multiple of ``n_segments``,
            ``"drop"`` to drop the last ``T % n_segments`` samples.
        fs, leads: see :class:`ViewGenerator`.
    """

    def __init__(
        self,
        n_segments: int = 2,
        *,
        rlm: RandomLeadMasking | float | None = None,
        remainder: Remainder = "error",
        fs: float | None = None,
        leads: Sequence[str] = CANONICAL_LEADS,
    ) -> None:
        super().__init__(n_segments, rlm, remainder, fs, leads, "n_segments")

    def _parts(self, x):
        h = self._length(x)
        return x[..., : self.n * h].unflatten(-1, (self.n, h))

    def __repr__(self) -> str:
        return f"CMSC(n_segments={self.n}, rlm={self.rlm!r}, fs={_fs_repr(self.fs)})"


class Interleave(_SplitViews):
    """Interleaved subsampling (Dual-View): view ``k`` takes samples ``k, k+n, k+2n, ...``.

    Each view has sampling rate ``fs / n`` (carried in its :class:`View`). Views
    re-interleave to the input (without RLM).

    Args:
        n_views: number of views (default 2: even / odd samples).
        rlm, remainder, fs, leads: as for :class:`CMSC`.
    """

    def __init__(
        self,
        n_views: int = 2,
        *,
        rlm: RandomLeadMasking | float | None = None,
        remainder: Remainder = "error",
        fs: float | None = None,
        leads: Sequence[str] = CANONICAL_LEADS,
    ) -> None:
        super().__init__(n_views, rlm, remainder, fs, leads, "n_views")

    def _parts(self, x):
        h = self._length(x)
        return x[..., : self.n * h].unflatten(-1, (h, self.n)).transpose(-1, -2)

    def _view_fs(self, fs: float) -> float:
        return fs / self.n

    def __repr__(self) -> str:
        return f"Interleave(n_views={self.n}, rlm={self.rlm!r}, fs={_fs_repr(self.fs)})"


ViewTransform = Augmentation | Callable[[Any], Any]


class MultiView(ViewGenerator):
    """Apply one pipeline ``n_views`` times, or one pipeline per view.

    Args:
        transforms: an :class:`~ecgfm.transforms.augment.Augmentation` (e.g. an
            :class:`~ecgfm.transforms.augment.AugmentationPipeline`) or any callable
            ``x -> x``, applied once per view; or a sequence of them, one per view (e.g. a
            strong and a weak pipeline). ecgfm augmentations get the ``generator``; other
            callables are called as ``f(x)``.
        n_views: number of views when ``transforms`` is a single pipeline (default 2).
        fs: see :class:`ViewGenerator`. Augmentations built for a rate (e.g.
            ``moco_ops(100)``) must agree with it; without ``fs`` their rate is the
            generator's.
        leads: see :class:`ViewGenerator`.

    Inside :class:`~ecgfm.transforms.views_data.ViewCollate` the last view is computed in the
    stacked batch's memory (one copy saved).
    """

    def __init__(
        self,
        transforms: ViewTransform | Sequence[ViewTransform],
        n_views: int | None = None,
        *,
        fs: float | None = None,
        leads: Sequence[str] = CANONICAL_LEADS,
    ) -> None:
        if isinstance(transforms, Sequence) and not isinstance(transforms, str):
            pipes = list(transforms)
            if not pipes:
                raise ValueError("MultiView needs at least one transform")
            if n_views is not None and n_views != len(pipes):
                raise ValueError(
                    f"n_views={n_views} but {len(pipes)} transforms were given (one per view)"
                )
        else:
            count = 2 if n_views is None else _check_int(n_views, "n_views", 1)
            pipes = [transforms] * count
        for i, t in enumerate(pipes):
            if not callable(t):
                raise TypeError(f"transform {i} is not callable: {t!r}")
        fs = None if fs is None else check_fs(fs)
        rates = (t.fs for t in pipes if isinstance(t, Augmentation))
        super().__init__(fs=common_rate(rates, type(self).__name__, fs), leads=leads)
        self.transforms = pipes
        self.min_samples = max([1, *(t.min_samples for t in pipes if isinstance(t, Augmentation))])

    def transforms_for(self, fs: float) -> list[ViewTransform]:
        """The transforms of the views of input at ``fs`` Hz, one per view."""
        return self.transforms

    def _rebuild_advice(self) -> str:
        if any(isinstance(t, Augmentation) and t.fs is not None for t in self.transforms):
            return "build its augmentations with fs={fs:g} (e.g. dual_view_ops({fs:g}))"
        return super()._rebuild_advice()

    def _views(self, x, fs, generator, overwrite):
        out = []
        transforms = self.transforms_for(fs)
        last = len(transforms) - 1
        for k, t in enumerate(transforms):
            if isinstance(t, Augmentation):
                y = x if (overwrite and k == last) else _alloc.clone(x)
                out.append((t.apply_(y, generator), fs, self.leads))
            else:
                y = t(x.clone())
                if isinstance(y, View):
                    out.append((torch.as_tensor(y.x), y.fs, tuple(y.leads)))
                    continue
                if not isinstance(y, (torch.Tensor, np.ndarray)) or tuple(y.shape) != tuple(
                    x.shape
                ):
                    raise ValueError(
                        f"MultiView transform {k} must return an array of shape "
                        f"{tuple(x.shape)} (or a View), got {type(y).__name__} "
                        f"{getattr(y, 'shape', '')}"
                    )
                out.append((torch.as_tensor(y), fs, self.leads))
        return out

    def __repr__(self) -> str:
        return f"MultiView({self.transforms!r}, fs={_fs_repr(self.fs)})"


class Stochastic(MultiView):
    """Dual-View stochastic views: one pool of augmentations applied twice, sequentially.

    Each op of the pool is applied with its own probability, in order, independently for
    each view and each record; both views keep the full length.

    Args:
        ops: the pool, or ``None`` (default) for
            :func:`~ecgfm.transforms.augment.dual_view_ops` at the input's rate: random time
            warp, time crop resized to the length, band-pass (cut-offs in Hz), Gaussian noise
            at a random SNR, amplitude scale, each with ``p = 0.5``. Without ``fs`` that pool
            is built for the rate of each input (and kept per rate).
        n_views: number of views (default 2).
        fs: see :class:`ViewGenerator`; ops built for a rate must agree with it.
        leads: see :class:`ViewGenerator`.

    Attributes:
        ops: the pool (an :class:`~ecgfm.transforms.augment.AugmentationPipeline`), or
            ``None`` when it is built for each input's rate (``ops=None`` and no ``fs``).
    """

    def __init__(
        self,
        ops: Sequence[Augmentation] | None = None,
        n_views: int = 2,
        *,
        fs: float | None = None,
        leads: Sequence[str] = CANONICAL_LEADS,
    ) -> None:
        self.n_views = _check_int(n_views, "n_views", 1)
        self._pools: dict[float, AugmentationPipeline] = {}
        self._default_pool = ops is None
        self.ops: AugmentationPipeline | None = None
        if ops is None and fs is None:
            ViewGenerator.__init__(self, fs=None, leads=leads)
            self.transforms = []
            self.min_samples = Augmentation.min_samples
            return
        pool = AugmentationPipeline(dual_view_ops(check_fs(fs)) if ops is None else ops)
        super().__init__(pool, self.n_views, fs=fs, leads=leads)
        self.ops = pool

    def _rebuild_advice(self) -> str:
        if self._default_pool:  # the pool follows the generator's fs
            return ViewGenerator._rebuild_advice(self)
        return super()._rebuild_advice()

    def transforms_for(self, fs: float) -> list[ViewTransform]:
        if self.ops is not None:
            return self.transforms
        pool = self._pools.get(fs)
        if pool is None:
            pool = self._pools[fs] = AugmentationPipeline(dual_view_ops(fs))
        return [pool] * self.n_views

    def __repr__(self) -> str:
        ops = "dual_view_ops(fs of each input)" if self.ops is None else repr(self.ops)
        return f"Stochastic({ops}, n_views={self.n_views}, fs={_fs_repr(self.fs)})"
