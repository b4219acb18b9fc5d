"""The latent-space chapter runs on multi-label data: executed with papermill on a MIR Flickr
release written in its exact layout (38 overlapping labels, some images without any), it
must colour by the presence of one label, never by an argmax, and finish without errors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import jupytext
import numpy as np
import papermill
import pytest

from tests.conftest import write_release

ROOT = Path(__file__).resolve().parents[1]


def execute_chapter(name: str, tmp_path: Path, **parameters) -> list[dict]:
    """Convert ``book/<name>.md`` to a notebook (as scripts/build_book.py does) and execute it
    with papermill; return the executed cells."""
    ipynb = tmp_path / f"{name}.ipynb"
    jupytext.write(jupytext.read(ROOT / "book" / f"{name}.md"), ipynb)
    env = {"PYTHONPATH": str(ROOT)}  # the kernel imports this checkout's mvae_lib
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        papermill.execute_notebook(ipynb, ipynb, parameters=parameters, cwd=str(ROOT / "book"),
                                   kernel_name="python3", progress_bar=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
    return json.loads(ipynb.read_text())["cells"]


def text_of(cells: list[dict]) -> str:
    out = []
    for cell in cells:
        for o in cell.get("outputs", []):
            out.append("".join(o.get("text", "")))
            out.append("".join(o.get("data", {}).get("text/plain", "")))
            out.append("".join(o.get("data", {}).get("text/markdown", "")))
    return "\n".join(out)


@pytest.mark.slow
def test_latent_chapter_runs_on_multilabel_mirflickr(tmp_path):
    root = tmp_path / "flickr"
    _, _, labels = write_release(root)
    test_idx = np.load(root / "splits/test_indices_1.npy")
    labels[test_idx[0]] = 0  # a test image without any label must not become "label 0"
    np.save(root / "labels.npy", labels)
    cells = execute_chapter("latent_spaces", tmp_path, quick=True, dataset="mirflickr",
                            data_root=str(root), runs_dir=str(tmp_path / "runs"), splits=1, epochs=1)
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{errors[0]['ename']}: {errors[0]['evalue']}"
    text = text_of(cells)
    assert "multi-label data" in text
    # the default colour is the most frequent label among the test examples shown (all 18)
    most_frequent = int(labels[test_idx].sum(0).argmax())
    assert f"coloured by the presence of label {most_frequent}" in text
    assert f"no label ({(~labels[test_idx].any(1)).sum()})" in text
    for name in ("pca_fig", "tsne_fig"):  # both figures were made and glued
        assert any(name in json.dumps(c.get("outputs", [])) for c in cells), name
    assert "tab-zeroed-codes" in text  # the per-label nearest-centroid table
