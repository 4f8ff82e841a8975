"""Retrieval R@k and kNN accuracy against naive loops; ties and validation."""

from __future__ import annotations

import pytest
import torch

from ecgfm.train.retrieval import knn_accuracy, positive_ranks, retrieval_recall


def _naive_ranks(q: torch.Tensor, k: torch.Tensor) -> list[int]:
    qn = q / q.norm(dim=1, keepdim=True)
    kn = k / k.norm(dim=1, keepdim=True)
    ranks = []
    for i in range(len(q)):
        pos = float(qn[i] @ kn[i])
        ranks.append(sum(1 for j in range(len(k)) if j != i and float(qn[i] @ kn[j]) >= pos))
    return ranks


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_ranks_match_a_naive_loop(chunk: int) -> None:
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(17, 6, generator=g, dtype=torch.float64)
    queries = keys + 1.5 * torch.randn(17, 6, generator=g, dtype=torch.float64)
    got = positive_ranks(queries, keys, chunk_size=chunk)
    assert got.tolist() == _naive_ranks(queries, keys)
    rec = retrieval_recall(queries, keys, (1, 5))
    naive = torch.tensor(_naive_ranks(queries, keys))
    assert rec["R@1"] == pytest.approx(float((naive < 1).double().mean()))
    assert rec["R@5"] == pytest.approx(float((naive < 5).double().mean()))
    assert rec["mean_rank"] == pytest.approx(float(naive.double().mean() + 1))
    assert 0 < rec["R@1"] < rec["R@5"] < 1  # a non-trivial case


def test_perfect_alignment_and_scale_invariance() -> None:
    keys = torch.eye(8) + 0.01
    rec = retrieval_recall(3.0 * keys, keys, (1,))
    assert rec == {"R@1": 1.0, "mean_rank": 1.0}


def test_collapsed_embeddings_score_zero_not_one() -> None:
    same = torch.ones(10, 4)
    rec = retrieval_recall(same, same, (1, 5, 10))
    assert rec["R@1"] == 0.0 and rec["R@5"] == 0.0 and rec["R@10"] == 1.0
    assert rec["mean_rank"] == 10.0


def test_knn_matches_a_naive_vote() -> None:
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(3, 5, generator=g) * 3
    ref_y = torch.arange(30) % 3
    ref = centres[ref_y] + torch.randn(30, 5, generator=g)
    qry_y = torch.tensor([0, 1, 2, 2, 1, 0, 1])
    qry = centres[qry_y] + 1.5 * torch.randn(7, 5, generator=g)
    k = 5
    rn, qn = ref / ref.norm(dim=1, keepdim=True), qry / qry.norm(dim=1, keepdim=True)
    correct = 0
    for i in range(7):
        sims = (rn @ qn[i]).tolist()
        top = sorted(range(30), key=lambda j: -sims[j])[:k]
        votes = [0.0, 0.0, 0.0]
        for j in top:
            votes[int(ref_y[j])] += sims[j] + 1
        correct += int(max(range(3), key=lambda c: votes[c]) == int(qry_y[i]))
    assert knn_accuracy(ref, ref_y, qry, qry_y, k=k) == pytest.approx(correct / 7)


def test_knn_separable_classes_are_perfect() -> None:
    ref = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    y = torch.tensor([0, 0, 1, 1])
    assert knn_accuracy(ref, y, ref * 2, y, k=2) == 1.0


@pytest.mark.parametrize(
    ("q", "k", "err"),
    [
        (torch.randn(4, 3), torch.randn(5, 3), ValueError),
        (torch.randn(4), torch.randn(4), ValueError),
        (torch.ones(2, 2, dtype=torch.long), torch.ones(2, 2, dtype=torch.long), TypeError),
        (torch.tensor([[float("nan"), 1.0]]), torch.ones(1, 2), ValueError),
        ([[1.0]], torch.ones(1, 1), TypeError),
    ],
)
def test_retrieval_rejects_bad_input(q: object, k: object, err: type) -> None:
    with pytest.raises(err):
        retrieval_recall(q, k)  # type: ignore[arg-type]


def test_bad_ks_and_labels() -> None:
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="ks"):
        retrieval_recall(x, x, (0,))
    with pytest.raises(ValueError, match="integer classes"):
        knn_accuracy(x, torch.rand(4), x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=">= 0"):
        knn_accuracy(x, torch.tensor([0, 1, -1, 0]), x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="k must"):
        knn_accuracy(x, torch.zeros(4, dtype=torch.long), x, torch.zeros(4, dtype=torch.long), k=0)
