"""The reference training scripts run end to end on a tiny configuration (as subprocesses).

Each script trains a few steps on a handful of PTB-XL training-fold records (HL also on
deepfake-ecg records), must exit 0, log finite losses and validation metrics as JSON lines,
write a checkpoint and an exported encoder, and resume from the checkpoint. SelfMIS also runs
as 2 gloo processes under ``torch.distributed.run``; with the same global batch it must give the
same weights as one process (the SigLIP loss gathers the teacher side across ranks).

Subprocesses run with ``OMP_NUM_THREADS=1`` (what torchrun sets too): these models are tiny and
thread oversubscription on a shared CI machine costs more than it gains.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _shared import load_script

import ecgfm
from ecgfm.train.encoders import load_encoder

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))
HAVE_NK = importlib.util.find_spec("neurokit2") is not None
PTBXL = SHARED / "data" / "ptbxl"
EXAMPLES = REPO / "examples"
_TIMEOUT = 300

DATA = [
    "--ptbxl-root",
    str(PTBXL),
    "--max-ptbxl",
    "16",
    "--val-records",
    "4",
    "--batch-size",
    "4",
    "--log-every",
    "1",
    "--val-every",
    "2",
    "--save-every",
    "2",
]
SELFMIS = [
    "--teacher",
    "random",
    "--teacher-arch",
    "net1d_small",
    "--student-arch",
    "net1d_small",
    "--student-args",
    '{"in_channels": 1}',
]
TINY = {
    "pretrain_stmem.py": [
        "--model-args",
        '{"depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_dim": 64}',
        "--decoder-args",
        '{"decoder_dim": 32, "decoder_depth": 1, "decoder_num_heads": 2}',
    ],
    "pretrain_hybrid.py": [
        "--model",
        "hl_vit_p250_d2_w256",
        "--model-args",
        '{"depth": 1}',
        "--decoder-args",
        '{"decoder_dim": 32, "decoder_depth": 1, "decoder_num_heads": 2}',
        "--synthetic",
        "4",
    ],
    "pretrain_dualview.py": [
        "--model",
        "dualview_small",
        "--fs",
        "100",
        "--model-args",
        '{"embed_dim": 32, "num_heads": 2}',
    ],
    "train_selfmis.py": [*SELFMIS, "--crop-samples", "1000"],
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not (PTBXL / "ptbxl_database.csv").is_file():
        pytest.fail(f"PTB-XL subset not found at {PTBXL} (set ECGFM_SHARED)")
    cache = tmp_path_factory.mktemp("cache")
    return {
        **os.environ,
        "ECGFM_CACHE": str(cache),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=_TIMEOUT)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _check_run(out: Path, steps: int, val_key: str, export: str) -> list[dict]:
    recs = _log(out)
    train = [r for r in recs if "lr" in r]
    assert [r["step"] for r in train][-1] == steps
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"]) for r in train)
    assert all(r["ecg_seen"] == 4 * r["step"] for r in train)
    assert any(val_key in r and math.isfinite(r[val_key]) for r in recs)
    assert recs[-1]["event"] == "end" and recs[-1]["step"] == steps
    assert (out / "checkpoint.pt").is_file()
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == steps
    load_encoder(out / export)  # the exported encoder rebuilds from the file alone
    if (out / export).is_dir():  # a save_pretrained directory whose card records the run
        model = ecgfm.from_pretrained(out / export)
        assert model.card.training.steps == steps and recs[-1]["export"] == str(out / export)
    return recs


@pytest.mark.parametrize(
    ("script", "val_key", "export"),
    [
        ("train_selfmis.py", "val/R@1", "encoder"),
        ("pretrain_stmem.py", "val/recon_mse", "encoder"),
        ("pretrain_hybrid.py", "val/recon_l1", "encoder"),
        ("pretrain_dualview.py", "val/R@1", "encoder"),
    ],
)
def test_script_trains_and_resumes(
    script: str, val_key: str, export: str, env: dict, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, str(EXAMPLES / script), "--out", str(out), *DATA, *TINY[script]]
    _run([*cmd, "--steps", "2"], env)
    first = _check_run(out, 2, val_key, export)
    assert first[0]["event"] == "start" and first[0]["args"]["data"]["ptbxl"] == 16
    _run([*cmd, "--steps", "3"], env)  # picks the checkpoint up and trains one more step
    recs = _check_run(out, 3, val_key, export)
    resume = [r for r in recs if r.get("event") == "resume"]
    assert len(resume) == 1 and resume[0]["step"] == 2
    assert [r["step"] for r in recs if "lr" in r] == [1, 2, 3]


def test_selfmis_with_cmsc_term_logs_both_terms(env: dict, tmp_path: Path) -> None:
    """SelfMIS + CLOCS CMSC on 3 CinC 2017 recordings (one under 10 s) and 12 PTB-XL records."""
    out = tmp_path / "cmsc"
    cmsc = ["--cmsc-weight", "0.5", "--cinc-root", str(SHARED / "data" / "cinc2017")]
    cmsc += ["--max-cinc", "3", "--cmsc-ptbxl", "--cmsc-batch-size", "2", "--cmsc-seconds", "2"]
    script = str(EXAMPLES / "train_selfmis.py")
    _run([sys.executable, script, "--out", str(out), *DATA, *TINY[script.split("/")[-1]], *cmsc,
          "--steps", "2"], env)  # fmt: skip
    recs = _log(out)
    start = recs[0]["args"]
    assert start["cmsc_records"] == {"cinc2017": 3, "ptbxl": 12}
    assert sum(start["cmsc_pairs"].values()) == 15 and start["cmsc_pairs"]["too_short"] == 0
    train = [r for r in recs if "lr" in r]
    assert [r["ecg_seen"] for r in train] == [6, 12]  # 4 SigLIP records + 2 CMSC recordings
    for r in train:  # total = siglip + 0.5 * contrast (float32 scalars, logged as float64)
        assert r["loss"] == pytest.approx(r["siglip"] + 0.5 * r["contrast"], rel=1e-6)
    load_encoder(out / "encoder")


@pytest.mark.skipif(not HAVE_NK, reason="neurokit2 is not installed (optional)")
def test_selfmis_with_rr_term_logs_both_terms(env: dict, tmp_path: Path) -> None:
    """SelfMIS + RR distillation on the first 3 CinC 2017 recordings (30, 60 and 30 s)."""
    out = tmp_path / "rr"
    rr = ["--rr-weight", "0.5", "--cinc-root", str(SHARED / "data" / "cinc2017")]
    rr += ["--max-cinc", "3", "--rr-batch-size", "2", "--rr-fit-windows", "8"]
    script = str(EXAMPLES / "train_selfmis.py")
    _run([sys.executable, script, "--out", str(out), *DATA, *TINY[script.split("/")[-1]], *rr,
          "--steps", "2"], env)  # fmt: skip
    recs = _log(out)
    start = recs[0]["args"]
    assert start["rr_records"] == {"cinc2017": 3} and start["rr_usable_records"] == 3
    state = start["rr_targets"]
    assert len(state["names"]) == len(state["center"]) == len(state["scale"]) == 21
    train = [r for r in recs if "lr" in r]
    assert [r["ecg_seen"] for r in train] == [6, 12]  # 4 SigLIP records + 2 RR windows
    for r in train:  # total = siglip + 0.5 * regression (float32 scalars, logged as float64)
        assert r["loss"] == pytest.approx(r["siglip"] + 0.5 * r["regression"], rel=1e-6)
        assert 0.0 <= r["rr_valid"] <= 1.0
    load_encoder(out / "encoder")


@pytest.mark.parametrize(
    ("flags", "advice"),
    [
        (["--cmsc-weight", "1"], "--cmsc-weight > 0 or --rr-weight > 0 needs --cinc-root"),
        (["--rr-weight", "1"], "--cmsc-weight > 0 or --rr-weight > 0 needs --cinc-root"),
        (["--cmsc-ptbxl"], "these need one of the two weights > 0"),
        (["--rr-weight", "-1", "--cmsc-ptbxl"], "--rr-weight must be >= 0"),
        (["--rr-weight", "1", "--cmsc-ptbxl", "--rr-batch-size", "0"],
         "--rr-batch-size must be >= 1"),
        (["--rr-weight", "1", "--cmsc-ptbxl", "--rr-fit-windows", "7"],
         "--rr-fit-windows >= 8"),
        (["--cmsc-weight", "1", "--cmsc-ptbxl", "--cmsc-batch-size", "0"],
         "--cmsc-batch-size must be >= 1"),
        (["--crop-samples", "5001"], "--crop-samples must be 0"),
        (["--crop-samples", "-1"], "--crop-samples must be 0"),
    ],
)  # fmt: skip
def test_selfmis_cmsc_flags_are_checked(
    flags: list[str], advice: str, capsys: pytest.CaptureFixture
) -> None:
    script = load_script(EXAMPLES / "train_selfmis.py", "train_selfmis")
    with pytest.raises(SystemExit) as exc:
        script.parse_args(["--out", "unused", *SELFMIS, *flags])
    assert exc.value.code == 2 and advice in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.distributed
def test_selfmis_two_gloo_processes_match_one_process(env: dict, tmp_path: Path) -> None:
    common = [*DATA, *SELFMIS, "--steps", "2", "--lr", "1e-3", "--val-every", "0"]
    script = str(EXAMPLES / "train_selfmis.py")
    one, two = tmp_path / "one", tmp_path / "two"
    # A fresh cache for the 2 ranks: rank 0 preprocesses while rank 1 waits, and both ranks
    # embed half of the records with the teacher and gather them (a wrong order would show
    # in the weights below).
    fresh = {**env, "ECGFM_CACHE": str(tmp_path / "cache")}
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            script,
            "--out",
            str(two),
            *common,
            "--batch-size",
            "2",
        ],
        fresh,
    )  # 2 ranks x 2
    assert (tmp_path / "cache" / "teacher").is_dir()
    _run([sys.executable, script, "--out", str(one), *common], env)  # 1 process, batch 4
    start = _log(two)[0]
    assert start["world_size"] == 2
    losses = [[r["loss"] for r in _log(d) if "lr" in r] for d in (one, two)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    a = load_encoder(one / "encoder").state_dict()
    b = load_encoder(two / "encoder").state_dict()
    assert a.keys() == b.keys()
    # Both runs start from the same seed-0 weights, so a - b is the difference of the two
    # AdamW updates. The gradients differ only by float32 summation order (2 x 2 records and
    # an all-reduce vs 4 records). AdamW divides by the gradient's running RMS, so its step is
    # lr * m / sqrt(v): for the vast majority of weights the reordering error (~1e-7 relative,
    # amplified by cancellation in the gradient sums) moves the step by far less than 1 % of
    # lr, but a weight whose gradient is nearly cancelled can move by any fraction of lr (seen:
    # 1.7e-3 lr on AMD AVX2). Machine-independent properties that a wrong gather/order or a
    # missing gradient would still break (they move most weights by O(lr)):
    lr, steps = 1e-3, 2
    diffs = []
    for k in a:
        if not a[k].is_floating_point():
            assert torch.equal(a[k], b[k]), k
            continue
        d = (a[k].double() - b[k].double()).abs().flatten()
        assert float(d.max()) <= 4 * steps * lr, k  # AdamW's step is bounded by ~lr per step
        diffs.append(d)
    d = torch.cat(diffs)
    assert d.numel() > 1000
    # at most 0.1 % of the weights further apart than 1 % of one step
    assert float((d > 1e-2 * lr).double().mean()) <= 1e-3
    assert float(d.median()) <= 1e-4 * lr
