from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _loss_reference import patient as patient_ref
from _tolerance import close_after_reordering
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgfm.losses import InfoNCELoss, PatientContrastiveLoss


def _pair(b: int, d: int, seed: int, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g, dtype=dtype), torch.randn(b, d, generator=g, dtype=dtype)


def _ids(b: int, patients: int, seed: int) -> torch.Tensor:
    return torch.randint(0, patients, (b,), generator=torch.Generator().manual_seed(seed))


def _grads(loss: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("batch", [1, 2, 5, 16, 64])
@pytest.mark.parametrize("patients", [1, 3, 1000])
@pytest.mark.parametrize("intra", [False, True])
def test_value_matches_naive_reference(batch: int, patients: int, intra: bool) -> None:
    z0, z1 = _pair(batch, 8, seed=batch + patients)
    ids = _ids(batch, patients, seed=batch)
    got = PatientContrastiveLoss(0.1, include_intra_view=intra)(z0, z1, ids)
    want = patient_ref(z0, z1, ids.tolist(), 0.1, include_intra_view=intra)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5])
@pytest.mark.parametrize("chunk_size", [None, 1, 3])
@pytest.mark.parametrize("intra", [False, True])
def test_gradients_match_naive_reference(
    temperature: float, chunk_size: int | None, intra: bool
) -> None:
    z0, z1 = _pair(6, 4, seed=12)
    z0.requires_grad_(True)
    z1.requires_grad_(True)
    ids = [7, 3, 7, 9, 3, 7]
    loss = PatientContrastiveLoss(temperature, include_intra_view=intra, chunk_size=chunk_size)
    got = loss(z0, z1, ids)
    want = patient_ref(z0, z1, ids, temperature, include_intra_view=intra)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for g, w in zip(_grads(got, z0, z1), _grads(want, z0, z1), strict=True):
        torch.testing.assert_close(g, w, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("intra", [False, True])
@pytest.mark.parametrize("batch", [1, 4, 17])
def test_no_repeated_patient_reduces_to_sample_level(intra: bool, batch: int) -> None:
    z0, z1 = _pair(batch, 6, seed=batch)
    unique = torch.randperm(1000, generator=torch.Generator().manual_seed(0))[:batch]
    got = PatientContrastiveLoss(0.1, include_intra_view=intra)(z0, z1, unique)
    want = InfoNCELoss(0.1, include_intra_view=intra)(z0, z1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_repeated_patients_change_the_loss() -> None:
    z0, z1 = _pair(8, 6, seed=5)
    unique = PatientContrastiveLoss()(z0, z1, list(range(8)))
    grouped = PatientContrastiveLoss()(z0, z1, [0, 0, 1, 1, 2, 2, 3, 3])
    assert abs(float(unique) - float(grouped)) > 1e-3


@pytest.mark.parametrize("batch", [1, 2, 9])
def test_closed_form_one_patient_identical_embeddings(batch: int) -> None:
    # Every candidate is a positive with the same logit 1/t: lse - mean = log(#candidates).
    z = torch.ones(batch, 5, dtype=torch.float64)
    ids = [4] * batch
    got = PatientContrastiveLoss(0.1)(z, z.clone(), ids)
    assert float(got) == pytest.approx(math.log(batch), abs=1e-12)
    got = PatientContrastiveLoss(0.1, include_intra_view=True)(z, z.clone(), ids)
    assert float(got) == pytest.approx(math.log(2 * batch - 1), abs=1e-12)


def test_closed_form_two_patients_orthonormal_groups() -> None:
    # Patients A and B, two ECGs each; views of the same patient identical, patients
    # orthogonal. Row i: 2 positives with logit 1/t, 2 negatives with logit 0.
    t = 0.1
    e = torch.eye(2, dtype=torch.float64)
    z = torch.stack([e[0], e[0], e[1], e[1]])
    got = PatientContrastiveLoss(t)(z, z.clone(), [1, 1, 2, 2])
    want = math.log(2 * math.exp(1 / t) + 2) - 1 / t
    assert float(got) == pytest.approx(want, rel=1e-12)


def test_symmetric_in_its_views() -> None:
    z0, z1 = _pair(10, 5, seed=8)
    ids = _ids(10, 4, seed=1)
    for intra in (False, True):
        loss = PatientContrastiveLoss(0.2, include_intra_view=intra)
        torch.testing.assert_close(loss(z0, z1, ids), loss(z1, z0, ids), rtol=1e-12, atol=1e-12)


def test_id_types_give_the_same_loss() -> None:
    z0, z1 = _pair(6, 4, seed=3)
    loss = PatientContrastiveLoss()
    ints = [10, 20, 10, 30, 20, 40]
    want = loss(z0, z1, torch.tensor(ints))
    torch.testing.assert_close(loss(z0, z1, ints), want)
    torch.testing.assert_close(loss(z0, z1, np.array(ints, dtype=np.int32)), want)
    torch.testing.assert_close(loss(z0, z1, ["p10", "p20", "p10", "p30", "p20", "p40"]), want)
    torch.testing.assert_close(loss(z0, z1, torch.tensor(ints, dtype=torch.int16)), want)


@pytest.mark.parametrize("chunk_size", [1, 5, 31, 32, 100])
@pytest.mark.parametrize("intra", [False, True])
def test_chunked_equals_unchunked(chunk_size: int, intra: bool) -> None:
    g = torch.Generator().manual_seed(5)
    z0 = torch.randn(32, 12, generator=g, requires_grad=True)
    z1 = torch.randn(32, 12, generator=g, requires_grad=True)
    ids = torch.randint(0, 6, (32,), generator=g)
    ref = PatientContrastiveLoss(include_intra_view=intra)(z0, z1, ids)
    got = PatientContrastiveLoss(include_intra_view=intra, chunk_size=chunk_size)(z0, z1, ids)
    # float32, chunked vs whole: dot products of 12, log-sum-exp over <= 2 * 32 logits, mean
    # over the positives of <= 64 rows (<= 64 each); gradients sum over the logits once more.
    close_after_reordering(got, ref, 12, 64, 64 * 64)
    for a, b in zip(_grads(got, z0, z1), _grads(ref, z0, z1), strict=True):
        close_after_reordering(a, b, 12, 64, 64 * 64)


@pytest.mark.parametrize("temperature", [1e-4, 1e3])
def test_extreme_temperatures_and_bf16_stay_finite(temperature: float) -> None:
    z0, z1 = _pair(12, 8, seed=2, dtype=torch.bfloat16)
    z0.requires_grad_(True)
    ids = _ids(12, 3, seed=0)
    for chunk in (None, 5):
        out = PatientContrastiveLoss(temperature, chunk_size=chunk, include_intra_view=True)(
            z0, z1, ids
        )
        assert out.dtype == torch.float32 and torch.isfinite(out)
        (grad,) = _grads(out, z0)
        assert grad.dtype == torch.bfloat16 and torch.isfinite(grad).all()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="temperature must be finite and > 0"):
        PatientContrastiveLoss(0.0)
    with pytest.raises(ValueError, match="temperature must be finite"):
        PatientContrastiveLoss(math.nan)
    loss = PatientContrastiveLoss()
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match=r"patient_ids must have shape \(4,\)"):
        loss(z, z, [1, 2, 3])
    with pytest.raises(ValueError, match=r"patient_ids must have shape \(4,\)"):
        loss(z, z, torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(TypeError, match=r"convert with \.long\(\)"):
        loss(z, z, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(TypeError, match="bool tensor"):
        loss(z, z, torch.tensor([True, False, True, True]))
    with pytest.raises(TypeError, match="all ints or all strings"):
        loss(z, z, [1, "2", 3, 4])
    with pytest.raises(TypeError, match="all ints or all strings"):
        loss(z, z, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TypeError, match="patient_ids must be an integer tensor"):
        loss(z, z, 5)
    with pytest.raises(TypeError, match="patient_ids must be an integer tensor"):
        loss(z, z, "abcd")
    with pytest.raises(ValueError, match="z1 has shape"):
        loss(z, torch.randn(5, 8), [1, 2, 3, 4])
    with pytest.raises(ValueError, match="empty batch"):
        loss(torch.randn(0, 8), torch.randn(0, 8), [])


@settings(max_examples=25, deadline=None)
@given(
    ids=st.lists(st.integers(0, 4), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
    intra=st.booleans(),
    chunk=st.one_of(st.none(), st.integers(1, 30)),
)
def test_property_relabel_and_permutation_invariance(
    ids: list[int], seed: int, intra: bool, chunk: int | None
) -> None:
    batch = len(ids)
    z0, z1 = _pair(batch, 4, seed)
    loss = PatientContrastiveLoss(0.1, include_intra_view=intra, chunk_size=chunk)
    base = loss(z0, z1, ids)
    assert float(base) >= 0
    # A bijective relabelling of patients changes nothing.
    relabel = [1000 - 7 * i for i in ids]
    torch.testing.assert_close(loss(z0, z1, relabel), base)
    # Permuting ECGs (embeddings and ids together) changes nothing.
    perm = torch.randperm(batch, generator=torch.Generator().manual_seed(seed))
    permuted_ids = [ids[k] for k in perm.tolist()]
    torch.testing.assert_close(loss(z0[perm], z1[perm], permuted_ids), base)
