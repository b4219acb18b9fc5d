"""`pip install .` in a fresh virtual environment gives a library that trains and probes an
MVAE without Jupyter Book (or anything else of the book) installed."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import importlib.util, json
    import mvae_lib
    from mvae_lib import (ModelConfig, Modality, Preset, TrainConfig, build_model, encode, fit_probe, lrap,
                          mnist_halves, train)

    missing = [m for m in ("jupyter_book", "papermill", "myst_nb", "bokeh", "ipywidgets")
               if importlib.util.find_spec(m) is not None]
    split = mnist_halves(0)
    model = build_model("MVAE", split.modalities, ModelConfig(hidden=(32,), latent=4))
    history = train(model, split.train, TrainConfig(epochs=1, batch_size=100), device="cpu", progress=False)
    probe = fit_probe(encode(model, split.train), split.y_train)
    score = lrap(split.y_test, probe.decision_function(encode(model, split.test, missing=("w",))))
    print(json.dumps({"file": mvae_lib.__file__, "book_packages": missing, "elbo": history[-1]["elbo"],
                      "lrap": score}))
""")


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv_trains_and_probes_without_the_book(tmp_path):
    # build from a copy: pip's setuptools build writes build/ beside the sources, and tests write
    # only to temporary folders
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "_build", "build", "mvae_runs", "*.egg-info",
                                                             "__pycache__", ".pytest_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # the torch pin of requirements.txt: an unpinned torch would pull a multi-GB CUDA build
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              str(src), "torch==2.13.0"], capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run([str(python), "-c", SCRIPT], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert str(venv) in out["file"]  # the installed copy, not this checkout
    assert out["book_packages"] == []  # nothing of the book came with the library
    assert out["elbo"] < 0 and 0.1 < out["lrap"] <= 1.0
