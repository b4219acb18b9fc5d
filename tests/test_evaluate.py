import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import label_ranking_average_precision_score
from sklearn.multiclass import OneVsRestClassifier

from mvae_lib.config import ModelConfig
from mvae_lib.crossmodal import encode
from mvae_lib.evaluate import fit_probe, lrap, score
from mvae_lib.models import Modality, build_model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lrap_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((300, 7)) < 0.3).astype(int)
    y[0] = 0  # no true label
    y[1] = 1  # every label true
    scores = rng.integers(0, 4, size=(300, 7)).astype(float)  # many ties
    assert lrap(y, scores) == pytest.approx(label_ranking_average_precision_score(y, scores), abs=1e-12)
    scores = rng.normal(size=(300, 7))
    assert lrap(y, scores) == pytest.approx(label_ranking_average_precision_score(y, scores), abs=1e-12)


def test_lrap_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        lrap(np.zeros((3, 2)), np.zeros((3, 4)))


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_probe_matches_scikit_learn_one_vs_rest(solver):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 5)) * [1, 10, 0.1, 3, 1]
    y = (z[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(size=(200, 4)) > 0).astype(float)
    probe = fit_probe(z, y, C=0.5, solver=solver)
    zs = (z - z.mean(0)) / z.std(0)
    ref = OneVsRestClassifier(LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000)).fit(zs, y)
    ref_w = np.stack([e.coef_[0] for e in ref.estimators_], axis=1)
    ref_b = np.array([e.intercept_[0] for e in ref.estimators_])
    np.testing.assert_allclose(probe.weight, ref_w, atol=1e-4)
    np.testing.assert_allclose(probe.bias, ref_b, atol=1e-4)
    np.testing.assert_allclose(probe.decision_function(z), ref.decision_function(zs), atol=1e-3)
    assert set(score(y, probe.decision_function(z))) == {"lrap", "map"}


def test_newton_reaches_the_minimum_that_lbfgs_approaches():
    """Newton's probe is the objective's minimiser (zero gradient); L-BFGS stops near it."""
    from mvae_lib.evaluate import _objective
    rng = np.random.default_rng(1)
    y = np.eye(10)[rng.integers(0, 10, 1500)]
    z = y @ rng.normal(size=(10, 32)) + rng.normal(size=(1500, 32)) * 2  # separable-ish, ill-conditioned
    probes = {s: fit_probe(z, y, solver=s) for s in ("newton", "lbfgs")}
    Z = torch.as_tensor((z - z.mean(0)) / z.std(0))
    S = torch.as_tensor(2 * y - 1)
    loss = {}
    for s, p in probes.items():
        W = torch.as_tensor(p.weight).requires_grad_()
        b = torch.as_tensor(p.bias).requires_grad_()
        loss[s] = _objective(Z, S, W, b, 1.0)
        loss[s].backward()
        if s == "newton":
            assert max(W.grad.abs().max(), b.grad.abs().max()) < 1e-9
    assert loss["newton"] <= loss["lbfgs"] + 1e-12
    np.testing.assert_allclose(probes["newton"].decision_function(z), probes["lbfgs"].decision_function(z), atol=1e-2)


def test_probe_solver_is_newton_for_small_codes_only(monkeypatch):
    from mvae_lib import evaluate
    called = []

    def newton(*args):
        called.append(1)
        raise RuntimeError("Newton's method was used")

    monkeypatch.setattr(evaluate, "_newton", newton)
    y = np.eye(3)[np.arange(60) % 3]
    with pytest.raises(RuntimeError, match="Newton"):
        fit_probe(np.random.randn(60, 4), y)
    fit_probe(np.random.randn(60, 4), y, max_iter=5)  # a truncated fit is L-BFGS's
    fit_probe(np.random.randn(60, evaluate.NEWTON_MAX_DIM + 1), y)
    assert called == [1]
    with pytest.raises(ValueError, match="solver"):
        fit_probe(np.random.randn(60, 4), y, solver="sgd")


def _model():
    torch.manual_seed(0)
    return build_model("MVAE", [Modality("x", 6, "gaussian"), Modality("w", 5, "bernoulli")],
                       ModelConfig(hidden=(8,), latent=3))


def test_setting_4_feeds_all_zero_tags():
    model = _model()
    seen = []
    model.encoders["x+w"].branches["w"].register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    inputs = {"x": np.random.randn(10, 6), "w": np.ones((10, 5))}
    encode(model, inputs, mode="mean", missing=("w",))
    assert seen and all((t == 0).all() for t in seen)
    seen.clear()
    encode(model, inputs, mode="mean")
    assert all((t == 1).all() for t in seen)


def test_encode_is_seeded_and_mean_is_deterministic():
    model = _model()
    inputs = {"x": np.random.randn(10, 6), "w": np.ones((10, 5))}
    a, b = encode(model, inputs, seed=4), encode(model, inputs, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, encode(model, inputs, seed=5))
    m = encode(model, inputs, mode="mean")
    assert m.shape == (10, 3) and not np.allclose(a, m)
    with pytest.raises(ValueError, match="'sample' or 'mean'"):
        encode(model, inputs, mode="median")


def test_macro_ap_skips_labels_without_positives():
    from sklearn.metrics import average_precision_score

    from mvae_lib.evaluate import macro_average_precision

    rng = np.random.default_rng(0)
    y = (rng.random((50, 4)) < 0.4).astype(int)
    y[:, 2] = 0
    scores = rng.normal(size=(50, 4))
    expected = np.mean([average_precision_score(y[:, j], scores[:, j]) for j in (0, 1, 3)])
    assert macro_average_precision(y, scores) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least one label"):
        macro_average_precision(np.zeros((5, 2)), np.zeros((5, 2)))


def test_average_precision_handles_ties_as_scikit_learn():
    from sklearn.metrics import average_precision_score

    from mvae_lib.evaluate import average_precision

    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.3
    scores = np.round(rng.random(500), 1)  # many ties
    assert average_precision(y, scores) == pytest.approx(average_precision_score(y, scores), abs=1e-12)
