"""The throughput benchmark runs and prints its figures (a smoke test: nothing is timed here)."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def throughput():
    spec = importlib.util.spec_from_file_location("throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_prints_a_ratio_per_model_and_batch(throughput, capsys):
    throughput.main(["--device", "cpu", "--steps", "1", "--rounds", "3", "--batch-sizes", "2", "--baseline",
                     "--models"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] in (["plain"], ["mvae_lib"])]
    assert [(r[0], r[1]) for r in rows] == [("plain", "2"), ("mvae_lib", "2")]
    for row in rows:
        samples_s, ratio = float(row[2]), float(row[5])
        lo, hi = (float(v) for v in row[6].strip("()").split("-"))
        assert samples_s > 0 and math.isfinite(ratio) and lo <= ratio <= hi


def test_plain_and_library_models_count_the_same_flops(throughput):
    """The comparison is like with like: both MVAEs have the paper's linear layers."""
    plain, library = throughput.PlainMVAE(), throughput.paper_mvae(torch.device("cpu"))
    assert throughput.linear_macs(plain) == throughput.linear_macs(library)


@pytest.mark.slow
def test_times_every_missing_modality_model_beside_the_mvae(throughput, capsys):
    throughput.main(["--device", "cpu", "--steps", "1", "--rounds", "3", "--batch-sizes", "2", "--no-four"])
    out = capsys.readouterr().out.split("one training step at the paper's sizes")[1]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert list(rows) == throughput.ALL_MODELS
    assert "MMVAE+" in rows
    assert float(rows["MVAE"][3]) == 1.0
    assert all(float(r[1]) > 0 and float(r[3]) > 0 for r in rows.values())


@pytest.mark.slow
def test_times_every_four_modality_model_beside_the_mvae(throughput, capsys):
    throughput.main(["--device", "cpu", "--steps", "1", "--rounds", "3", "--batch-sizes", "2", "--models"])
    out = capsys.readouterr().out.split("four modalities of 196 bits")[1]
    rows = [line.split("  ")[0].strip() for line in out.splitlines()[2:] if line.strip()]
    assert rows == [label for label, _, _ in throughput.FOUR_MODELS]
    values = [line.split()[-3:] for line in out.splitlines()[2:] if line.strip()]
    assert values[0][2] == "1.00" and all(float(v) > 0 for row in values for v in row)


def test_book_size_adds_up_what_takes_the_room(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("book_size", SCRIPT.with_name("book_size.py"))
    book_size = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book_size)
    files = {"index.html": 1_000_000, "book/vae.html": 500_000, "_static/bokeh/bokeh-3.min.js": 1_270_000,
             "_static/mathjax/tex-chtml.js": 2_000_000, "_sources/book/vae.ipynb": 30_000}
    for name, size in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    assert book_size.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "BokehJS                                   1.27 MB" in out
    assert "pages (HTML, with the figures' data)      1.50 MB" in out
    assert "total                                     4.80 MB" in out
    assert book_size.main([str(tmp_path / "missing")]) == 2
    assert "found none" in capsys.readouterr().err
