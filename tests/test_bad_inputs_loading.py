"""Bad inputs of model loading and of the ``ecgfm`` command line.

Python: each call fails with the right error type and advice phrased with Python arguments
that exist (``device=``, ``checkpoint_path=``, ``ecgfm.list_pretrained()``). Command line:
each ``argv`` exits with the documented status (2 usage or loading error, 1 an input failed),
prints no traceback, and its advice names CLI flags and commands (``--device``,
``--checkpoint-path``, ``ecgfm list``), never a Python argument a CLI user cannot pass.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _catalogue import advice_test, check_cli_case, unique_ids_test

from ecgfm.cli import main
from ecgfm.convert.ecgfounder import load_ecgfounder
from ecgfm.convert.st_mem import load_st_mem_encoder
from ecgfm.data import read_wfdb
from ecgfm.hub import (
    PretrainedNotFoundError,
    WeightsUnavailableError,
    from_pretrained,
    make_card,
    save_pretrained,
)
from ecgfm.models import create_model
from ecgfm.transforms.presets import get_preset

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))
CINC = SHARED / "data" / "cinc2017" / "A00001"
PTBXL = SHARED / "data" / "ptbxl" / "records100" / "00000" / "00001_lr"
ST_MEM_PRETRAIN = SHARED / "fixtures" / "st_mem_small_pretrain.pth"
ECGFOUNDER_SMALL = SHARED / "fixtures" / "ecgfounder_small_1lead.pth"


@functools.cache
def _model_dir() -> Path:
    """A small lead-I Net1D saved once per session (random weights; loading is what is tested)."""
    import tempfile

    torch.manual_seed(0)
    model = create_model("net1d_small", in_channels=1).eval()
    card = make_card(
        model, name="bad-loading", preset=get_preset("selfmis", leads=("I",)), license="MIT",
        paper="none (test model)", training="random weights",
    )  # fmt: skip
    return save_pretrained(model, Path(tempfile.mkdtemp(prefix="ecgfm-bad-loading-")) / "m", card)


def _no_gpu() -> str:
    """A CUDA device this process cannot use, on any machine."""
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def _a_file() -> Path:
    return _model_dir() / "model.safetensors"


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # --- device / dtype: checked before anything is read
    ("device-cuda-without-gpu", lambda: from_pretrained(_model_dir(), device=_no_gpu()),
     ValueError, r"Available here: cpu.*pass one of them as device="),
    ("device-typo", lambda: from_pretrained("selfmis-lead1", device="cuad"), ValueError,
     "not a torch device name"),
    ("device-float", lambda: from_pretrained("selfmis-lead1", device=1.5), TypeError,
     r"'cpu' or 'cuda:0', a torch\.device or None"),
    ("device-bool", lambda: from_pretrained("selfmis-lead1", device=True), TypeError,
     "a torch.device or None"),
    ("device-meta", lambda: from_pretrained("selfmis-lead1", device="meta"), ValueError,
     "meta device holds no values"),
    ("dtype-int", lambda: from_pretrained("selfmis-lead1", dtype=torch.int8), ValueError,
     "float32, float16 or bfloat16"),
    ("dtype-list", lambda: from_pretrained("selfmis-lead1", dtype=["float32"]), ValueError,
     "float32, float16 or bfloat16"),
    ("dtype-numpy", lambda: from_pretrained("selfmis-lead1", dtype=np.float32), ValueError,
     "float32, float16 or bfloat16"),
    # --- names and paths: hints only point to things that can work
    ("name-typo", lambda: from_pretrained("selfmis_lead1"), PretrainedNotFoundError,
     r"Did you mean 'selfmis-lead1'.*ecgfm\.list_pretrained\(\)"),
    ("name-case", lambda: from_pretrained("SelfMIS-Lead1"), PretrainedNotFoundError,
     "Registered names: .*selfmis-lead1"),
    ("missing-absolute-dir", lambda: from_pretrained("/nonexistent/ecgfm/model"),
     PretrainedNotFoundError, r"No directory /nonexistent/ecgfm/model exists \(/nonexistent"),
    ("missing-home-dir", lambda: from_pretrained("~/nonexistent-ecgfm-model"),
     PretrainedNotFoundError, "No directory"),
    ("repo-without-prefix", lambda: from_pretrained("owner/repo"), PretrainedNotFoundError,
     "write 'hf-hub:owner/repo'"),
    ("file-instead-of-dir", lambda: from_pretrained(str(_a_file())), ValueError,
     r"checkpoint_path=\.\.\.\)\) or convert it once"),
    ("name-is-int", lambda: from_pretrained(12), TypeError, "a string or a path"),
    ("hf-id-with-inline-revision", lambda: from_pretrained("hf-hub:owner/repo@v1"), ValueError,
     r"from_pretrained\(\.\.\., revision='v1\.0'\)"),
    ("hf-id-without-repo", lambda: from_pretrained("hf-hub:owner"), ValueError,
     "expected 'hf-hub:owner/repo'"),
    # --- checkpoint_path
    ("user-file-entry-without-path", lambda: from_pretrained("st-mem-vit-base"),
     WeightsUnavailableError, r"from_pretrained\('st-mem-vit-base', checkpoint_path="),
    ("checkpoint-path-missing",
     lambda: from_pretrained("ecgfounder-lead1", checkpoint_path="/nonexistent/1_lead.pth"),
     WeightsUnavailableError, "checkpoint_path /nonexistent/1_lead.pth does not exist"),
    ("checkpoint-path-is-a-dir",
     lambda: from_pretrained("ecgfounder-lead1", checkpoint_path=_model_dir()),
     WeightsUnavailableError, "is not a file"),
    ("checkpoint-path-with-directory",
     lambda: from_pretrained(_model_dir(), checkpoint_path="x.pth"), ValueError,
     "checkpoint_path= do not apply to a local directory"),
    ("checkpoint-path-with-hf-id", lambda: from_pretrained("hf-hub:a/b", checkpoint_path="x"),
     ValueError, "checkpoint_path= does not apply to an hf-hub: id"),
    # --- the WFDB reader's rename= (what the CLI's --rename feeds)
    ("rename-as-cli-string", lambda: read_wfdb(CINC, rename="ECG=I"), TypeError,
     r"rename must be a mapping such as \{'ECG': 'I'\}"),
    ("rename-unknown-channel", lambda: read_wfdb(PTBXL, rename={"ECG": "I"}), ValueError,
     r"rename= names channels \['ECG'\]"),
    ("channel-not-a-lead", lambda: read_wfdb(CINC), ValueError, r"Pass rename=\{'ECG': '<lead>'\}"),
    # --- converters called on the other family's checkpoint
    ("ecgfounder-converter-on-st-mem", lambda: load_ecgfounder(ST_MEM_PRETRAIN), ValueError,
     "use ecgfm.convert.st_mem"),
    ("st-mem-converter-on-ecgfounder", lambda: load_st_mem_encoder(ECGFOUNDER_SMALL), ValueError,
     "use ecgfm.convert.ecgfounder"),
]  # fmt: skip


test_bad_input_fails_with_advice = advice_test(BAD)


# --------------------------------------------------------------------------- command line
# (id, argv with {model} {tmp} {cinc} {ptbxl} {file} {st_mem} {ecgfounder} {no_gpu}, exit
# status, phrase of the advice)
BAD_CLI: list[tuple[str, list[str], int, str]] = [
    ("embed-device-without-gpu", ["embed", "{model}", "{ptbxl}", "-o", "{tmp}/o.npy",
     "--device", "{no_gpu}"], 2, "pass one of them to --device"),
    ("embed-device-typo", ["embed", "{model}", "{ptbxl}", "-o", "{tmp}/o.npy", "--device", "gpu"],
     2, "--device gpu is not a torch device name"),
    ("embed-leads-with-wfdb", ["embed", "{model}", "{cinc}", "-o", "{tmp}/o.npy", "--leads", "I"],
     2, "--rename ECG=I"),
    ("embed-units-with-wfdb", ["embed", "{model}", "{ptbxl}", "-o", "{tmp}/o.npy", "--units", "uV"],
     2, "whose header gives their leads and units"),
    ("embed-rename-with-npy", ["embed", "{model}", "{tmp}/x.npy", "-o", "{tmp}/o.npy", "--fs",
     "500", "--leads", "I", "--rename", "ECG=I"], 2, "name their channels with --leads"),
    ("embed-rename-without-equals", ["embed", "{model}", "{cinc}", "-o", "{tmp}/o.npy",
     "--rename", "ECG:I"], 2, "--rename takes CHANNEL=LEAD"),
    ("embed-rename-python-dict", ["embed", "{model}", "{cinc}", "-o", "{tmp}/o.npy",
     "--rename", "{'ECG': 'I'}"], 2, "--rename takes CHANNEL=LEAD"),
    ("embed-rename-reversed", ["embed", "{model}", "{cinc}", "-o", "{tmp}/o.npy",
     "--rename", "I=ECG"], 2, "'ECG' is not an ECG lead name"),
    ("embed-rename-conflict", ["embed", "{model}", "{cinc}", "-o", "{tmp}/o.npy",
     "--rename", "ECG=I", "--rename", "ECG=II"], 2, "names channel 'ECG' twice"),
    ("embed-cinc-without-rename", ["embed", "{model}", "{cinc}", "-o", "{tmp}/o.npy"], 1,
     "Pass --rename ECG=<lead>"),
    ("embed-rename-absent-channel", ["embed", "{model}", "{ptbxl}", "-o", "{tmp}/o.npy",
     "--rename", "ECG=I"], 1, r"--rename names channels \['ECG'\]"),
    ("embed-user-file-entry", ["embed", "st-mem-vit-base", "{ptbxl}", "-o", "{tmp}/o.npy"], 2,
     "--checkpoint-path FILE"),
    ("embed-checkpoint-path-with-dir", ["embed", "{model}", "{ptbxl}", "-o", "{tmp}/o.npy",
     "--checkpoint-path", "{file}"], 2, "--checkpoint-path does not apply to a model directory"),
    ("embed-checkpoint-path-missing", ["embed", "ecgfounder-lead1", "{ptbxl}", "-o",
     "{tmp}/o.npy", "--checkpoint-path", "{tmp}/none.pth"], 2, "--checkpoint-path .* does not"),
    ("embed-hf-id-with-revision", ["embed", "hf-hub:owner/repo@v1", "{ptbxl}", "-o",
     "{tmp}/o.npy"], 2, "--revision REV --local-dir DIR"),
    ("info-name-typo", ["info", "selfmis_lead1"], 2, "`ecgfm list`"),
    ("info-missing-dir", ["info", "{tmp}/absent/model"], 2, "No directory"),
    ("info-weights-file", ["info", "{file}"], 2, r"ecgfm convert \{ecgfounder,st-mem\} FILE DIR"),
    ("convert-use-bn-st-mem", ["convert", "st-mem", "{st_mem}", "{tmp}/c", "--use-bn"], 2,
     "--use-bn applies to ECGFounder"),
    ("convert-bad-name", ["convert", "st-mem", "{st_mem}", "{tmp}/c", "--name", "My Model"], 2,
     "card name must be lowercase"),
    ("convert-wrong-kind", ["convert", "ecgfounder", "{st_mem}", "{tmp}/c"], 2,
     "use `ecgfm convert st-mem`"),
    ("convert-wrong-kind-reverse", ["convert", "st-mem", "{ecgfounder}", "{tmp}/c"], 2,
     "use `ecgfm convert ecgfounder`"),
]  # fmt: skip

# Python-only advice: a CLI user cannot pass these.
_PYTHON_ONLY = ("use_bn=", "rename=", "checkpoint_path=", "device=", "list_pretrained",
                "nan_policy=", "revision=")  # fmt: skip

test_catalogue_ids_unique = unique_ids_test(BAD, BAD_CLI)


@pytest.mark.parametrize(
    ("argv", "status", "phrase"), [c[1:] for c in BAD_CLI], ids=[c[0] for c in BAD_CLI]
)
def test_bad_cli_input_exits_with_cli_advice(
    argv: list[str], status: int, phrase: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for path in (
        CINC.with_suffix(".hea"),
        PTBXL.with_suffix(".hea"),
        ST_MEM_PRETRAIN,
        ECGFOUNDER_SMALL,
    ):
        if not path.exists():
            pytest.fail(f"{path} missing (set ECGFM_SHARED)")
    np.save(tmp_path / "x.npy", np.zeros((1, 5000), np.float32))
    values = {
        "model": str(_model_dir()), "tmp": str(tmp_path), "cinc": str(CINC),
        "ptbxl": str(PTBXL), "file": str(_a_file()),
        "st_mem": str(ST_MEM_PRETRAIN), "ecgfounder": str(ECGFOUNDER_SMALL), "no_gpu": _no_gpu(),
    }  # fmt: skip
    args = [functools.reduce(lambda a, kv: a.replace("{" + kv[0] + "}", kv[1]),
                             values.items(), arg) for arg in argv]  # fmt: skip
    check_cli_case(main, args, status, phrase, capsys, forbidden=_PYTHON_ONLY)
    assert not list(tmp_path.glob("o.npy")), "an output was written"
