"""The ``ecgfm`` command line (in-process through ``main(argv)``, and once as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ecgfm.cli import main
from ecgfm.hub import from_pretrained, make_card, save_pretrained
from ecgfm.models import create_model, is_model, register_model
from ecgfm.transforms.preprocessing import Compose, ZScore
from ecgfm.transforms.presets import Preset

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))
PTBXL = SHARED / "data" / "ptbxl" / "records100" / "00000"
FIXTURES = SHARED / "fixtures"
ARCH = "clitest_tiny"


class _Tiny(nn.Module):
    """Smallest ecgfm encoder: conv + time mean over leads I, II, V1."""

    def __init__(self) -> None:
        super().__init__()
        self.in_leads = ("I", "II", "V1")
        self.num_features = 4
        self.default_input_length = 500
        self.conv = nn.Conv1d(3, 4, kernel_size=5, padding=2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_embedding(x)


if not is_model(ARCH):
    register_model(ARCH)(lambda **kw: _Tiny(**kw))


def _need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("ECGFM_ALLOW_MISSING_SHARED") == "1":
            pytest.skip(f"{path} missing")
        pytest.fail(f"{path} missing (set ECGFM_SHARED)")
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = create_model(ARCH)
    preset = Preset(
        name="clitest", fs=100.0, length=500, leads=("I", "II", "V1"),
        filters=Compose([]), normalize=Compose([ZScore("all")]),
    )  # fmt: skip
    card = make_card(model, name="clitest-tiny", preset=preset, license="MIT", paper="none",
                     training="random init (CLI test)")  # fmt: skip
    return save_pretrained(model, tmp_path / "model", card)


def test_list_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("ecgfounder-12lead", "ecgfounder-lead1", "st-mem-vit-base"):
        assert name in out
    assert "user file" in out and "hf-hub" in out
    assert main(["list", "st-mem*"]) == 0
    out = capsys.readouterr().out
    assert "st-mem-vit-base" in out and "ecgfounder" not in out
    assert main(["info", "ecgfounder-lead1"]) == 0
    out = capsys.readouterr().out
    assert "# ecgfounder-lead1" in out and "PKUDigitalHealth/ECGFounder" in out
    assert main(["info", "st-mem-vit-base", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["license"] == "CC BY-NC 4.0" and card["weights"]["redistributable"] is False


def test_info_errors_and_usage(capsys: pytest.CaptureFixture[str], model_dir: Path) -> None:
    assert main(["info", "ecgfounder-12leads"]) == 2
    assert "Did you mean 'ecgfounder-12lead'" in capsys.readouterr().err
    assert main(["info", str(model_dir)]) == 0
    assert "# clitest-tiny" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["--help"]) == 0


def test_embed_wfdb_records_and_directory(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecgfm.data import read_wfdb

    rec1 = _need(PTBXL / "00001_lr.hea").with_suffix("")
    rec2 = _need(PTBXL / "00002_lr.hea").with_suffix("")
    out = tmp_path / "emb.npz"
    code = main(["embed", str(model_dir), str(rec1), str(rec2) + ".hea", "-o", str(out),
                 "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "read 2 record(s) (2 at 100 Hz" in captured.err and "resampled 0" in captured.err
    data = np.load(out)
    assert data["embeddings"].shape == (2, 4) and data["embeddings"].dtype == np.float32
    assert data["record_ids"].tolist() == ["00001_lr", "00002_lr"]
    assert str(data["model"]) == "clitest-tiny"
    model = from_pretrained(model_dir)
    ref = model.embed([read_wfdb(rec1), read_wfdb(rec2)])
    np.testing.assert_allclose(data["embeddings"], ref, atol=1e-6)
    # A directory input: every record under it, in sorted order; .npy output.
    sub = tmp_path / "records"
    sub.mkdir()
    for name in ("00001_lr", "00002_lr"):
        for ext in (".hea", ".dat"):
            (sub / (name + ext)).write_bytes((PTBXL / (name + ext)).read_bytes())
    npy = tmp_path / "emb.npy"
    assert main(["embed", str(model_dir), str(sub), "-o", str(npy)]) == 0
    np.testing.assert_allclose(np.load(npy), ref, atol=1e-6)
    capsys.readouterr()
    assert main(["embed", str(model_dir), str(rec1), "-o", str(npy), "--fs", "500"]) == 1
    assert "header says 100 Hz but --fs 500" in capsys.readouterr().err


def test_embed_npy_inputs_resampling_and_failures(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    a = tmp_path / "a.npy"
    np.save(a, (rng.standard_normal((3, 2000)) * 300).astype(np.float32))  # 8 s at 250 Hz, uV
    b = tmp_path / "b.npy"
    np.save(b, (rng.standard_normal((3, 1000)) * 300).astype(np.float32))
    out = tmp_path / "x.npz"
    args = ["embed", str(model_dir), str(a), str(b), "-o", str(out)]
    assert main([*args, "--fs", "250", "--leads", "V1,I,II", "--units", "uV"]) == 0
    err = capsys.readouterr().err
    assert "resampled 2" in err and "2 at 250 Hz" in err
    assert np.load(out)["embeddings"].shape == (2, 4)
    out.unlink()
    # .npy without --fs: every input fails, is listed, exit 1, nothing written.
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "2 input(s) failed" in err and "needs --fs and --leads" in err
    assert not out.exists()
    # One good input, one missing: exit 1; the good one is written only with --partial.
    missing = tmp_path / "missing.npy"
    base = ["embed", str(model_dir), str(a), str(missing), "-o", str(out), "--fs", "250",
            "--leads", "V1,I,II", "--units", "uV"]  # fmt: skip
    assert main(base) == 1
    err = capsys.readouterr().err
    assert f"{missing}: file not found" in err and "--partial" in err
    assert not out.exists()
    assert main([*base, "--partial"]) == 1
    assert np.load(out)["embeddings"].shape == (1, 4)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files


def test_embed_usage_errors(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["embed", str(model_dir), "x.npy", "-o", str(tmp_path / "out.csv")]) == 2
    assert "must end in .npy or .npz" in capsys.readouterr().err
    assert main(["embed", "no-such-model", "x.npy", "-o", str(tmp_path / "o.npy")]) == 2
    assert "cannot load 'no-such-model'" in capsys.readouterr().err
    assert main(["embed", str(model_dir), "x.npy", "-o", str(tmp_path / "o.npy"),
                 "--leads", "I,XX"]) == 2  # fmt: skip
    assert "--leads" in capsys.readouterr().err


def test_convert_official_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pth = _need(FIXTURES / "ecgfounder_small_1lead.pth")
    io = load_file(str(_need(FIXTURES / "ecgfounder_small_1lead_io.safetensors")))
    dst = tmp_path / "ecgfounder"
    assert main(["convert", "ecgfounder", str(pth), str(dst), "--name", "small-lead1"]) == 0
    assert "small-lead1" in capsys.readouterr().out
    model = from_pretrained(dst)
    assert model.card.license == "MIT" and model.card.input.leads == ("I",)
    assert "non-standard configuration" in model.card.description
    with torch.inference_mode():
        x = io["input"]
        assert (model.forward_embedding(x) - io["features"]).abs().max().item() <= 1e-5
    assert main(["convert", "ecgfounder", str(pth), str(dst)]) == 2  # exists, no --overwrite
    assert "overwrite" in capsys.readouterr().err

    st = _need(FIXTURES / "st_mem_small_encoder.pth")
    st_io = load_file(str(_need(FIXTURES / "st_mem_small_io.safetensors")))
    dst2 = tmp_path / "st"
    assert main(["convert", "st-mem", str(st), str(dst2)]) == 0
    assert "do not upload" in capsys.readouterr().out
    st_model = from_pretrained(dst2)
    assert not st_model.card.weights.redistributable
    with torch.inference_mode():
        diff = st_model.forward_embedding(st_io["input"]) - st_io["encoder_features"]
    assert diff.abs().max().item() <= 1e-5
    assert main(["convert", "st-mem", str(tmp_path / "absent.pth"), str(tmp_path / "z")]) == 2


def test_console_entry_point_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ecgfm.cli", "list", "ecgfounder-*"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ecgfounder-12lead" in proc.stdout and "st-mem" not in proc.stdout
