import pickle

import numpy as np
import pytest
import torch

from mvae_lib.config import ModelConfig, TrainConfig
from mvae_lib.models import Modality, build_model
from mvae_lib.train import TrainingDiverged, kl_weight, pick_device, train

MODS = [Modality("x", 6, "gaussian"), Modality("w", 5, "bernoulli")]


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(n, 6)).astype(np.float32), "w": (rng.random((n, 5)) < 0.4).astype(np.float32)}


def fit(seed):
    torch.manual_seed(0)  # the same initial weights; train() seeds shuffling and eps
    model = build_model("MVAE", MODS, ModelConfig(hidden=(8,), latent=2))
    history = train(model, data(), TrainConfig(epochs=3, batch_size=16, seed=seed), device="cpu", progress=False)
    return model, history


def test_same_seed_same_numbers():
    (m1, h1), (m2, h2), (_, h3) = fit(1), fit(1), fit(2)
    assert h1 == h2
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p1, p2, rtol=0, atol=0)
    assert h1 != h3


def test_history_has_every_term_and_the_loss_goes_down():
    model = build_model("MVAE", MODS, ModelConfig(hidden=(16,), latent=2))
    h = train(model, data(200), TrainConfig(epochs=30, batch_size=20, kl_warmup_epochs=0), progress=False)
    assert set(h[0]) >= {"loss", "elbo", "kl", "rec_x", "rec_w", "epoch", "kl_weight"}
    assert h[-1]["loss"] < h[0]["loss"]


def test_kl_warmup():
    cfg = TrainConfig(kl_warmup_epochs=4)
    assert [kl_weight(e, cfg) for e in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert kl_weight(0, TrainConfig(kl_warmup_epochs=0)) == 1.0


def test_diverging_loss_stops_with_a_clear_message():
    bad = data()
    bad["x"][3, 2] = np.inf
    model = build_model("VAE", MODS[:1], ModelConfig(hidden=(8,), latent=2))
    with pytest.raises(TrainingDiverged, match=r"became nan in epoch 1.*smaller learning rate") as info:
        train(model, bad, TrainConfig(epochs=2, batch_size=50), progress=False)
    assert info.value.history == []
    again = pickle.loads(pickle.dumps(TrainingDiverged("boom", [{"loss": 1.0}])))
    assert str(again) == "boom" and again.history == [{"loss": 1.0}]


def test_bad_device_and_inputs():
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")
    model = build_model("MVAE", MODS, ModelConfig(hidden=(8,), latent=2))
    with pytest.raises(ValueError, match=r"expected shape \(batch, 5\)"):
        train(model, {"x": np.zeros((4, 6)), "w": np.zeros((4, 3))}, TrainConfig(epochs=1), progress=False)


@pytest.mark.parametrize("fused", [True, False])
def test_clipped_adam_equals_clip_then_adam(fused):
    from mvae_lib.train import ClippedAdam

    def run(clipped: bool):
        torch.manual_seed(0)
        model = build_model("MVAE", MODS, ModelConfig(hidden=(8,), latent=2))
        params = list(model.parameters())
        if clipped:
            opt = ClippedAdam(params, 0.5, lr=1e-2, eps=1e-4, fused=fused)
        else:
            opt = torch.optim.Adam(params, lr=1e-2, eps=1e-4, fused=fused)
        batch = {k: torch.as_tensor(v) for k, v in data().items()}
        norms = []
        for _ in range(5):
            opt.zero_grad()
            model.loss(batch)["loss"].backward()
            if clipped:
                norms.append(torch.nn.utils.get_total_norm([p.grad for p in params]).item())
            else:
                torch.nn.utils.clip_grad_norm_(params, 0.5)
            opt.step()
        return params, norms

    (a, norms), (b, _) = run(True), run(False)
    assert max(norms) > 0.5  # clipping was active
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_cpu_allocator_keeps_freed_memory_on_glibc():
    import platform

    from mvae_lib.train import reuse_freed_memory

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert reuse_freed_memory() is True
    else:
        assert reuse_freed_memory() in (True, False)
