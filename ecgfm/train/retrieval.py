"""Validation metrics computed from embeddings: cross-modal retrieval and kNN accuracy.

- :func:`retrieval_recall` — SelfMIS's validation metric: for every query (a 1-lead embedding)
  rank all keys (the 12-lead embeddings of the same records) by cosine similarity; R@k is the
  fraction of queries whose own key is among the top ``k``. Also used for two views of one
  record (contrastive methods: view-1 -> view-2 retrieval).
- :func:`knn_accuracy` — cosine k-nearest-neighbour classification of held-aside embeddings
  with labels of a reference set (labels are used for evaluation only).

Ties count against the query: a key that is exactly as similar as the positive is ranked
before it. A collapsed encoder (all embeddings equal) therefore scores R@k = 0 for ``k < N``,
not a perfect 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["knn_accuracy", "positive_ranks", "retrieval_recall"]


def _check_embeddings(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be (N, D) with N, D >= 1, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf; the encoder diverged or the input is bad")
    return F.normalize(x.detach().double(), dim=1)


def positive_ranks(
    queries: torch.Tensor, keys: torch.Tensor, *, chunk_size: int = 1024
) -> torch.Tensor:
    """0-based rank of each query's own key among all keys, ``(N,) long``.

    ``queries[i]`` and ``keys[i]`` belong to the same record. Rank = number of other keys
    with cosine similarity ``>=`` that of the positive (ties pessimistic).

    Args:
        queries: ``(N, D)`` embeddings (e.g. single-lead student, projected).
        keys: ``(N, D)`` embeddings of the same ``N`` records (e.g. 12-lead teacher).
        chunk_size: queries scored at once (bounds memory to ``chunk_size x N``).
    """
    q = _check_embeddings("queries", queries)
    k = _check_embeddings("keys", keys.to(queries.device))
    if q.shape != k.shape:
        raise ValueError(
            f"queries {tuple(q.shape)} and keys {tuple(k.shape)} must have the same shape "
            "(one key per query, same width)"
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    ranks = []
    for start in range(0, q.shape[0], chunk_size):
        sims = q[start : start + chunk_size] @ k.T  # (b, N)
        rows = torch.arange(sims.shape[0], device=sims.device)
        pos = sims[rows, rows + start].unsqueeze(1)
        ranks.append((sims >= pos).sum(dim=1) - 1)
    return torch.cat(ranks).cpu()


def retrieval_recall(
    queries: torch.Tensor,
    keys: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10),
    *,
    prefix: str = "R@",
) -> dict[str, float]:
    """Recall@k of query -> key retrieval, plus the mean rank (1-based).

    Returns ``{"R@1": .., "R@5": .., "R@10": .., "mean_rank": ..}`` (keys named with
    ``prefix``). ``k`` larger than ``N`` gives 1.0.
    """
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive ints, got {ks!r}")
    ranks = positive_ranks(queries, keys)
    out = {f"{prefix}{k}": float((ranks < k).double().mean()) for k in ks}
    out["mean_rank"] = float(ranks.double().mean() + 1)
    return out


def knn_accuracy(
    reference: torch.Tensor,
    reference_labels: torch.Tensor,
    query: torch.Tensor,
    query_labels: torch.Tensor,
    *,
    k: int = 20,
) -> float:
    """Accuracy of cosine kNN classification (majority vote of the ``k`` nearest references).

    Votes are weighted by cosine similarity, so ties between classes go to the closer
    neighbours. Labels are integer classes ``(N,)``.
    """
    ref = _check_embeddings("reference", reference)
    qry = _check_embeddings("query", query.to(reference.device))
    if ref.shape[1] != qry.shape[1]:
        raise ValueError(f"reference width {ref.shape[1]} != query width {qry.shape[1]}")
    ref_y = torch.as_tensor(reference_labels, device=ref.device)
    qry_y = torch.as_tensor(query_labels, device=ref.device)
    for name, y, n in (
        ("reference_labels", ref_y, ref.shape[0]),
        ("query_labels", qry_y, qry.shape[0]),
    ):
        if y.shape != (n,) or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(
                f"{name} must be ({n},) integer classes, got {y.dtype} {tuple(y.shape)}"
            )
        if bool((y < 0).any()):
            raise ValueError(f"{name} must be >= 0")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    k = min(k, ref.shape[0])
    n_classes = int(max(ref_y.max(), qry_y.max())) + 1
    sims, nn_idx = (qry @ ref.T).topk(k, dim=1)
    votes = torch.zeros(qry.shape[0], n_classes, dtype=torch.float64, device=ref.device)
    votes.scatter_add_(1, ref_y[nn_idx], sims + 1.0)  # +1: similarities in [-1, 1] -> weights >= 0
    return float((votes.argmax(dim=1) == qry_y).double().mean())
