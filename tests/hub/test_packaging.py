"""weights/ ships as ``ecgfm._weights``: the package list, the lookup, and a real wheel install."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import ecgfm
from ecgfm.hub import (
    WeightsSpec,
    WeightsUnavailableError,
    bundled_weights_dirs,
    from_pretrained,
    make_card,
    save_pretrained,
    sha256_file,
)
from ecgfm.models import create_model

REPO = Path(__file__).resolve().parents[2]
IN_REPO = Path(ecgfm.__file__).resolve().parent == REPO / "ecgfm"


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_is_listed_and_weights_are_mapped() -> None:
    cfg = _pyproject()["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "ecgfm").rglob("__init__.py")
    }
    listed = set(cfg["packages"])
    assert on_disk - listed == set(), f"add to [tool.setuptools] packages: {on_disk - listed}"
    assert "ecgfm._weights" in listed
    assert cfg["package-dir"] == {"ecgfm._weights": "weights"}
    data = cfg["package-data"]["ecgfm._weights"]
    assert "*.safetensors" in data
    assert (REPO / "weights" / "__init__.py").is_file()
    assert (REPO / "weights" / "README.md").is_file()


@pytest.mark.skipif(not IN_REPO, reason="ecgfm is not imported from this checkout")
def test_repo_weights_dir_is_searched(tmp_path: Path, register_temp, monkeypatch) -> None:
    """A file dropped in the repository's weights/ is found by name (editable/source use)."""
    monkeypatch.delenv("ECGFM_WEIGHTS_DIR", raising=False)
    weights_dir = REPO / "weights"
    assert weights_dir.resolve() in bundled_weights_dirs()
    torch.manual_seed(0)
    model = create_model("net1d_small")
    card = make_card(model, name=f"hubtest-bundled-{uuid.uuid4().hex[:8]}", preset="ecgfounder",
                     license="MIT", paper="none", training="random init (test only)")  # fmt: skip
    saved = save_pretrained(model, tmp_path / "m", card)
    filename = f"{card.name}.safetensors"
    target = weights_dir / filename
    shutil.copyfile(saved / "model.safetensors", target)
    try:
        register_temp(card.replace(weights=WeightsSpec(file=filename, sha256=sha256_file(target))))
        loaded = from_pretrained(card.name)
        for k, v in model.state_dict().items():
            assert torch.equal(loaded.encoder.state_dict()[k], v), k
    finally:
        target.unlink()
    with pytest.raises(WeightsUnavailableError, match="reinstall ecgfm"):
        from_pretrained(card.name)


_SCRIPT = """
import json, sys
from pathlib import Path
import torch
from safetensors.torch import load_file
import ecgfm
from ecgfm.hub import PretrainedCard, from_pretrained, register_pretrained, find_bundled_file

card = PretrainedCard.from_dict(json.loads(Path(sys.argv[1]).read_text()))
register_pretrained(card)
model = from_pretrained(card.name)
io = load_file(sys.argv[2])
with torch.inference_mode():
    err = (model.forward_embedding(io["input"]) - io["output"]).abs().max().item()
print(json.dumps({"ecgfm": ecgfm.__file__, "file": str(find_bundled_file(card.weights.file)),
                  "err": err, "registered": ecgfm.list_pretrained(),
                  "selfmis_card": ecgfm.pretrained_card("selfmis-lead1").to_dict()}))
"""


@pytest.mark.slow
def test_wheel_ships_weights_and_loads_from_elsewhere(tmp_path: Path) -> None:
    """Build a wheel of a copy of the repo with one test file in weights/, install it in a fresh
    venv (torch etc. borrowed from this environment through a .pth file), load from /tmp."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*")
    shutil.copytree(REPO / "ecgfm", src / "ecgfm", ignore=ignore)
    shutil.copytree(REPO / "weights", src / "weights", ignore=ignore)
    shutil.copyfile(REPO / "pyproject.toml", src / "pyproject.toml")
    readme = REPO / "README.md"
    (src / "README.md").write_text(readme.read_text() if readme.exists() else "# ecgfm\n")

    torch.manual_seed(0)
    model = create_model("net1d_small")
    card = make_card(model, name="pkgtest-net1d", preset="ecgfounder", license="MIT",
                     paper="none", training="random init (packaging test only)")  # fmt: skip
    saved = save_pretrained(model, tmp_path / "saved", card)
    shutil.copyfile(saved / "model.safetensors", src / "weights" / "pkgtest-net1d.safetensors")
    digest = sha256_file(src / "weights" / "pkgtest-net1d.safetensors")
    card = card.replace(weights=WeightsSpec(file="pkgtest-net1d.safetensors", sha256=digest))
    (tmp_path / "card.json").write_text(json.dumps(card.to_dict()))
    x = torch.randn(2, 12, card.input.length, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        save_file({"input": x, "output": model.forward_embedding(x)}, str(tmp_path / "io.st"))

    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "-w", str(wheels), "--no-deps",
         "--no-build-isolation", "-q"],
        check=True, timeout=600,
    )  # fmt: skip
    (wheel,) = wheels.glob("ecgfm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ecgfm/_weights/pkgtest-net1d.safetensors" in names
    assert "ecgfm/_weights/README.md" in names and "ecgfm/hub/_resolve.py" in names
    assert "ecgfm/cli.py" in names
    cards = sorted(p.name for p in (REPO / "weights").glob("*.card.json"))
    assert cards and all(f"ecgfm/_weights/{c}" in names for c in cards)  # the registry's cards

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       check=True, capture_output=True, text=True).stdout.strip()
    )  # fmt: skip
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, timeout=600,
    )  # fmt: skip
    script = tmp_path / "check.py"
    script.write_text(_SCRIPT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [str(py), str(script), str(tmp_path / "card.json"), str(tmp_path / "io.st")],
        cwd=elsewhere, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ecgfm"].startswith(str(site)), result
    assert result["file"] == str(site / "ecgfm" / "_weights" / "pkgtest-net1d.safetensors")
    assert result["err"] == 0.0
    # the bundled cards were read from the installed package, with the temporary entry
    shipped = sorted(c.removesuffix(".card.json") for c in cards)
    assert result["registered"] == sorted([*shipped, "pkgtest-net1d"])
    assert result["selfmis_card"] == ecgfm.pretrained_card("selfmis-lead1").to_dict()
