"""``ecgfm`` command line, issue 13: CinC from the CLI (``--rename``), options that describe one
kind of input refused for the other, ``--use-bn``, CLI-phrased advice, device errors, names of
converted cards, ``--version`` and closed pipes."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _shared import load_script
from _tolerance import close_after_reordering, network_reduction_lengths
from safetensors.torch import load_file

from ecgfm._version import __version__
from ecgfm.cli import main
from ecgfm.hub import from_pretrained, make_card, save_pretrained
from ecgfm.models import create_model
from ecgfm.transforms.presets import get_preset

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))

pytestmark = pytest.mark.usefixtures("one_thread")


def _need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("ECGFM_ALLOW_MISSING_SHARED") == "1":
            pytest.skip(f"{path} missing")
        pytest.fail(f"{path} missing (set ECGFM_SHARED)")
    return path


@pytest.fixture(scope="module")
def lead1_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small lead-I Net1D (random weights) with the SelfMIS preset, saved as a directory."""
    torch.manual_seed(0)
    model = create_model("net1d_small", in_channels=1).eval()
    card = make_card(
        model, name="cli-lead1", preset=get_preset("selfmis", leads=("I",)), license="MIT",
        paper="none (test model)", training="random weights",
    )  # fmt: skip
    return save_pretrained(model, tmp_path_factory.mktemp("cli") / "lead1", card)


@pytest.fixture(scope="module")
def cinc() -> Path:
    return _need(SHARED / "data" / "cinc2017" / "A00001.hea").with_suffix("")


@pytest.fixture(scope="module")
def ptbxl() -> Path:
    record = SHARED / "data" / "ptbxl" / "records100" / "00000" / "00001_lr"
    return _need(record.with_suffix(".hea")).with_suffix("")


# ------------------------------------------------------------------ defect 1: CinC, --rename
def test_bundled_single_lead_model_embeds_cinc_from_the_cli(
    cinc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecgfm.data import read_wfdb

    out = tmp_path / "cinc.npz"
    argv = ["embed", "selfmis-lead1", str(cinc), "-o", str(out), "--no-progress"]
    assert main([*argv, "--rename", "ECG=I"]) == 0, capsys.readouterr().err
    assert "1 at 300 Hz" in capsys.readouterr().err
    rec = read_wfdb(cinc, rename={"ECG": "I"})
    model = from_pretrained("selfmis-lead1")
    expected = model.embed(rec)
    # The CLI batches the same windows through the same network; batching may reorder float32
    # sums (the window mean adds one reduction over the windows).
    lengths = (*network_reduction_lengths(model.encoder), int(rec.duration // 10))
    close_after_reordering(torch.as_tensor(np.load(out)["embeddings"][0]),
                           torch.as_tensor(expected), *lengths)  # fmt: skip


def test_without_rename_the_advice_is_the_cli_flag(
    lead1_dir: Path, cinc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["embed", str(lead1_dir), str(cinc), "-o", str(tmp_path / "o.npy")]) == 1
    err = capsys.readouterr().err
    assert "Pass --rename ECG=<lead>" in err and "--rename ECG=I" in err
    assert "rename={" not in err  # the Python argument is not something a CLI user can pass


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        (["--leads", "I"], "--leads describes .npy arrays"),
        (["--units", "uV"], "--units describes .npy arrays"),
        (["--leads", "I", "--units", "mV"], "--leads and --units describe .npy arrays"),
    ],
)
def test_npy_options_with_wfdb_records_are_usage_errors(
    lead1_dir: Path, ptbxl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    extra: list[str], phrase: str,
) -> None:  # fmt: skip
    out = tmp_path / "o.npy"
    assert main(["embed", str(lead1_dir), str(ptbxl), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert phrase in err and "--rename CHANNEL=LEAD" in err and not out.exists()


def test_rename_with_npy_inputs_is_a_usage_error(
    lead1_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arr = tmp_path / "x.npy"
    np.save(arr, np.zeros((1, 5000), np.float32))
    argv = ["embed", str(lead1_dir), str(arr), "-o", str(tmp_path / "o.npy"), "--fs", "500",
            "--leads", "I", "--rename", "ECG=I"]  # fmt: skip
    assert main(argv) == 2
    assert "name their channels with --leads" in capsys.readouterr().err


def test_quickstart_uses_the_cli_rename_option() -> None:
    from ecgfm.cli import add_rename_argument

    quickstart = load_script(REPO / "examples" / "quickstart.py", "qs_issue13")
    # one mechanism: the same validation in both (a target that is not a lead is refused)
    with pytest.raises(SystemExit) as info:
        quickstart.main(["--rename", "ECG=Q"])
    assert info.value.code == 2
    parser = argparse.ArgumentParser()
    add_rename_argument(parser)
    args = parser.parse_args(["--rename", "ECG=I", "--rename", "X=II"])
    assert args.rename == {"ECG": "I", "X": "II"}
    assert parser.parse_args([]).rename is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--rename", "ECG=I", "--rename", "ECG=II"])


# ------------------------------------------------------------------------ defect 1: --use-bn
def test_convert_use_bn_flag_and_cli_phrased_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    fixtures = SHARED / "fixtures"
    pth = _need(fixtures / "ecgfounder_small_12lead_bn.pth")
    io = load_file(str(_need(fixtures / "ecgfounder_small_12lead_bn_io.safetensors")))
    with caplog.at_level(logging.WARNING, logger="ecgfm.convert.ecgfounder"):
        assert main(["convert", "ecgfounder", str(pth), str(tmp_path / "nobn")]) == 0
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "pass --use-bn" in warned and "use_bn=" not in warned
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ecgfm.convert.ecgfounder"):
        assert main(["convert", "ecgfounder", str(pth), str(tmp_path / "bn"), "--use-bn"]) == 0
    assert caplog.records == []  # trained BatchNorm applied: nothing to warn about
    model = from_pretrained(tmp_path / "bn")
    with torch.inference_mode():
        diff = (model.forward_embedding(io["input"]) - io["features"]).abs().max().item()
    assert diff <= 1e-4 * io["features"].abs().max().item()
    capsys.readouterr()
    assert main(["convert", "st-mem", str(pth), str(tmp_path / "x"), "--use-bn"]) == 2
    assert "--use-bn applies to ECGFounder" in capsys.readouterr().err


def test_python_warning_names_the_python_argument(caplog: pytest.LogCaptureFixture) -> None:
    from ecgfm.convert.ecgfounder import load_ecgfounder

    pth = _need(SHARED / "fixtures" / "ecgfounder_small_12lead_bn.pth")
    with caplog.at_level(logging.WARNING, logger="ecgfm.convert.ecgfounder"):
        load_ecgfounder(pth)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "pass use_bn=True" in warned and "--use-bn" not in warned


# ------------------------------------------------------------- defect 1: advice of load errors
def test_unknown_name_points_to_ecgfm_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "selfmis-lead"]) == 2
    err = capsys.readouterr().err
    assert "`ecgfm list`" in err and "list_pretrained" not in err
    assert "Did you mean 'selfmis-lead1'" in err


def test_missing_directory_suggests_only_what_can_work(
    lead1_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent" / "model"
    assert main(["info", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"No directory {missing} exists" in err and "hf-hub:" + str(tmp_path) not in err
    typo = lead1_dir.with_name("lead2")  # next to the real model directory
    assert main(["info", str(typo)]) == 2
    assert f"did you mean {lead1_dir}?" in capsys.readouterr().err
    assert main(["info", "owner/repo"]) == 2  # shaped like a repository id: that can work
    assert "write 'hf-hub:owner/repo'" in capsys.readouterr().err


# ---------------------------------------------------------------------- defect 6: --device
def _unavailable_cuda() -> str:
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def test_unavailable_device_is_a_clear_error_before_loading(lead1_dir: Path) -> None:
    device = _unavailable_cuda()
    with pytest.raises(ValueError) as info:
        from_pretrained(lead1_dir, device=device)
    msg = str(info.value)
    assert f"device={device!r} cannot be used" in msg and "Available here: cpu" in msg
    assert "device=" in msg.split("Available here")[1]  # what to pass, in Python terms


def test_cli_device_error_exits_2_in_one_line(
    lead1_dir: Path, ptbxl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = _unavailable_cuda()
    argv = ["embed", str(lead1_dir), str(ptbxl), "-o", str(tmp_path / "o.npy"), "--device", device]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ecgfm embed: error:")
    assert f"--device {device} cannot be used" in err and "pass one of them to --device" in err


# ------------------------------------------------ defect 12: names, --version, closed pipes
def test_converted_small_st_mem_is_named_after_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    st = _need(SHARED / "fixtures" / "st_mem_small_encoder.pth")
    assert main(["convert", "st-mem", str(st), str(tmp_path / "a")]) == 0
    assert "card 'st-mem-small-encoder'" in capsys.readouterr().out
    assert from_pretrained(tmp_path / "a").card.name == "st-mem-small-encoder"
    assert main(["convert", "st-mem", str(st), str(tmp_path / "b"), "--name", "my-st-mem"]) == 0
    assert from_pretrained(tmp_path / "b").card.name == "my-st-mem"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ecgfm {__version__}"


@pytest.mark.parametrize("argv", [["info", "ecgfounder-12lead"], ["list"]])
def test_closed_pipe_ends_quietly(argv: list[str], tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written (like `| head` done)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ecgfm.cli", *argv], stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == 141
