"""Adding a model is one class plus one declaration: a model declared here, in the test file,
runs through the grid (in this process and in the runner's worker processes) and through
Table 3's scoring, with no module of the library touched."""
from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

import mvae_lib
from mvae_lib.models import MODEL_SPECS, ModelSpec, PoEMVAE, build_model, register_model
from mvae_lib.table3 import EvalConfig, Row3, run_table3


@dataclass(frozen=True)
class BetaOptions:
    """The KL weight of a beta-PoE. ``beta``: a choice of this test (Higgins et al. 2017 use beta > 1)."""

    beta: float = 0.5


class BetaPoE(PoEMVAE):
    r"""The product of experts with its KL terms weighted by :math:`\beta` (a test's own model)."""

    def __init__(self, modalities, config, beta: float = BetaOptions.beta):
        super().__init__(modalities, config)
        self.beta = beta

    def loss(self, inputs: Mapping[str, Tensor], kl_weight: float = 1.0) -> dict[str, Tensor]:
        return super().loss(inputs, kl_weight * self.beta)


SPEC = ModelSpec("BetaPoE", BetaPoE, reads="all", image_alone="own", options=BetaOptions,
                 description="a product of experts with a weighted KL (declared by a test)")
if multiprocessing.parent_process() is not None:  # a worker of the runner imports this module: declare it there
    register_model(SPEC)


@pytest.fixture
def declared():
    register_model(SPEC)
    yield SPEC
    MODEL_SPECS.pop(SPEC.name)


def test_a_declared_model_is_built_with_typed_options(declared):
    x, w = mvae_lib.Modality("x", 6, "gaussian"), mvae_lib.Modality("w", 5, "bernoulli")
    config = mvae_lib.ModelConfig(hidden=(8,), latent=3)
    model = build_model("BetaPoE", [x, w], config, beta=2.0)
    assert isinstance(model, BetaPoE) and model.beta == 2.0
    assert build_model("BetaPoE", [x, w], config).beta == 0.5  # the default comes from the options
    with pytest.raises(ValueError, match=r"does not take the options \['alpha'\]"):
        build_model("BetaPoE", [x, w], config, alpha=1.0)
    with pytest.raises(ValueError, match="option beta: expected float"):
        build_model("BetaPoE", [x, w], config, beta="big")
    assert "BetaPoE" in mvae_lib.model_names("own")
    terms = model.loss({"x": torch.randn(4, 6), "w": (torch.rand(4, 5) < 0.5).float()})
    assert torch.isfinite(terms["loss"])


@pytest.mark.slow
def test_a_declared_model_runs_through_the_grid_and_table3(declared, tmp_path, tiny_preset):
    kwargs = dict(dataset="mnist-halves", splits=[0], preset=tiny_preset, out_dir=tmp_path, progress=False)
    rows = [mvae_lib.Row(3, "BetaPoE", 3), mvae_lib.Row(3, "BetaPoE", 4), mvae_lib.Row(3, "MVAE", 3)]
    grid = mvae_lib.run_table(rows, workers=2, **kwargs)  # spawned workers import this module to build it
    assert len(grid.trained) == 2  # BetaPoE and the MVAE, one run each (settings 3 and 4 share one)
    cells = {(r["model"], r["setting"], r["metric"]): r["value"] for r in grid.rows}
    assert 0 < cells[("BetaPoE", 4, "lrap")] <= 1  # setting 4: its own image-only posterior
    run = mvae_lib.get_run("mnist-halves", "BetaPoE", 3, 0, preset=tiny_preset, out_dir=tmp_path)
    assert not run.trained_now and isinstance(run.model(), BetaPoE)
    table = run_table3([Row3("BetaPoE"), Row3("BetaPoE", options=(("beta", 2.0),))], workers=1,
                       evaluation=EvalConfig(K=4, n_ll=10, samples=2), **kwargs)
    scores = {(r["model"], r["metric"]): r["value"] for r in table.rows}
    assert {"BetaPoE", "BetaPoE (beta=2)"} == {m for m, _ in scores}
    for model in ("BetaPoE", "BetaPoE (beta=2)"):
        assert 0 < scores[(model, "lrap_image")] <= 1 and scores[(model, "ll_joint")] < 0
    with pytest.raises(ValueError, match="encodes an image alone with its own encoder"):
        run_table3([Row3("BetaPoE", "zeros")], **kwargs)
