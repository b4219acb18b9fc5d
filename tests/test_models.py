import pytest
import torch

from mvae_lib.config import ModelConfig
from mvae_lib.models import MODEL_SPECS, GaussianHead, LatentModel, Modality, VariationalModel, build_model

X, W = Modality("x", 6, "gaussian"), Modality("w", 5, "bernoulli")
CFG = ModelConfig(hidden=(8, 8), latent=3)


def batch(n=4):
    return {"x": torch.randn(n, 6), "w": (torch.rand(n, 5) < 0.5).float()}


@pytest.mark.parametrize("kind", ["AE", "VAE", "MAE", "MVAE"])
def test_shapes_terms_and_gradients(kind):
    torch.manual_seed(0)
    mods = [X] if kind in ("AE", "VAE") else [X, W]
    model = build_model(kind, mods, CFG)
    assert isinstance(model, MODEL_SPECS[kind].cls) and isinstance(model, LatentModel)
    inputs = batch()
    variational = isinstance(model, VariationalModel)
    assert variational == (kind in ("VAE", "MVAE"))
    if variational:  # a posterior, which unpacks as (mu, logvar)
        mu, logvar = model.encode(inputs)
        assert logvar.abs().max() <= 1.0  # tanh-bounded log-variance (eq. 8)
    else:  # an autoencoder's code
        mu = model.encode(inputs)
    assert mu.shape == (4, 3)
    params = model.decode(mu)
    assert params["x"][0].shape == (4, 6) and params["x"][1].shape == (4, 6)
    if "w" in params:
        assert params["w"][0].shape == (4, 5)
    terms = model.loss(inputs)
    expected = {"loss", "elbo", "rec_x"} | ({"rec_w"} if len(mods) == 2 else set()) | (
        {"kl"} if isinstance(model, VariationalModel) else set())
    assert set(terms) == expected
    terms["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_gaussian_head_is_two_linear_layers():
    torch.manual_seed(1)
    head = GaussianHead(4, 3)
    h = torch.randn(2, 4)
    mu, logvar = head(h)
    W, b = head.linear.weight, head.linear.bias
    torch.testing.assert_close(mu, h @ W[:3].T + b[:3])
    torch.testing.assert_close(logvar, torch.tanh(h @ W[3:].T + b[3:]))


def test_bad_inputs_say_what_was_expected():
    model = build_model("MVAE", [X, W], CFG)
    with pytest.raises(ValueError, match=r"missing \['w'\]"):
        model.check_inputs({"x": torch.randn(2, 6)})
    with pytest.raises(ValueError, match=r"expected shape \(batch, 5\), found \(2, 4\)"):
        model.check_inputs({"x": torch.randn(2, 6), "w": torch.randn(2, 4)})
    with pytest.raises(ValueError, match="unknown model"):
        build_model("GAN", [X], CFG)
    with pytest.raises(ValueError, match="reads one input"):
        build_model("VAE", [X, W], CFG)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        Modality("x", 3, "poisson")
