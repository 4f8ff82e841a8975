"""Teacher embeddings: equal to the teacher's forward, cached once, keyed by the weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ecgfm.models import create_model
from ecgfm.train.pretrain_data import PretrainData
from ecgfm.train.teacher_cache import teacher_cache_key, teacher_embeddings

CPU = torch.device("cpu")


def test_embeddings_equal_the_forward_and_are_cached(
    stmem_data: PretrainData, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    teacher = create_model("net1d_small")
    emb = teacher_embeddings(teacher, stmem_data, device=CPU, batch_size=5, cache_dir=tmp_path)
    with torch.no_grad():
        want = teacher.forward_embedding(stmem_data.windows(range(12), crop="center"))
    assert emb.shape == (12, 64) and emb.dtype == torch.float32
    torch.testing.assert_close(emb, want, atol=1e-5, rtol=1e-5)
    files = list((tmp_path / "teacher").glob("*.npy"))
    assert len(files) == 1 and files[0].stem == teacher_cache_key(teacher, stmem_data, "fp32")

    def boom(x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the cache should have been used")

    teacher.forward_embedding = boom  # type: ignore[method-assign]
    again = teacher_embeddings(teacher, stmem_data, device=CPU, cache_dir=tmp_path)
    assert torch.equal(again, emb)


def test_other_weights_or_precision_get_another_key(stmem_data: PretrainData) -> None:
    torch.manual_seed(0)
    a = create_model("net1d_small")
    torch.manual_seed(1)
    b = create_model("net1d_small")
    keys = {
        teacher_cache_key(a, stmem_data, "fp32"),
        teacher_cache_key(b, stmem_data, "fp32"),
        teacher_cache_key(a, stmem_data, "bf16"),
    }
    assert len(keys) == 3


def test_without_cache_nothing_is_written(stmem_data: PretrainData, tmp_path: Path) -> None:
    teacher = create_model("net1d_small")
    teacher_embeddings(teacher, stmem_data, device=CPU, cache_dir=tmp_path, use_cache=False)
    assert not (tmp_path / "teacher").exists()


def test_stale_cache_is_detected(stmem_data: PretrainData, tmp_path: Path) -> None:
    import numpy as np

    teacher = create_model("net1d_small")
    path = tmp_path / "teacher" / f"{teacher_cache_key(teacher, stmem_data, 'fp32')}.npy"
    path.parent.mkdir()
    np.save(path, np.zeros((3, 64), np.float32))
    with pytest.raises(ValueError, match="rows"):
        teacher_embeddings(teacher, stmem_data, device=CPU, cache_dir=tmp_path)


def test_bad_arguments(stmem_data: PretrainData) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        teacher_embeddings(create_model("net1d_small"), stmem_data, device=CPU, batch_size=0)
    with pytest.raises(TypeError, match="encoder"):
        teacher_embeddings(torch.nn.Linear(2, 2), stmem_data, device=CPU)
