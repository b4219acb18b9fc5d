r"""Codes, and a modality missing: fill strategies, generation, coherence, likelihoods.

Image-only codes, cross-modal generation, coherence and log-likelihoods are the measures
of Table 3 (:func:`mvae_lib.run_table3`).

**Filling in the tags.** The MAE and the MVAE have one encoder, for :math:`(x, w)` together;
setting 4 of the paper feeds it :math:`w = 0`. The alternatives, for a model trained on
both modalities (``FILLS``):

- ``"zeros"``: :math:`w = 0`, setting 4 as the paper ran it;
- ``"random"``: every tag drawn from its training marginal, :math:`w_d \sim
  \mathrm{Bernoulli}(\bar w_d)`, the paper's own proposal (its section 5);
- ``"mean"``: :math:`w = \bar w`, the training mean of the tags;
- ``"refill"``: generate and refill. Start from :math:`w^{(0)} = 0`; then
  :math:`w^{(r+1)} = \mathbb E[w \mid z = \mu(x, w^{(r)})]`, the decoder's tag
  probabilities at the posterior mean. The model is generative, so it can fill in what is
  missing, and each round feeds the encoder an input more like those it was trained on.
  ``REFILL_ROUNDS = 3``: the book measures how much :math:`w^{(r)}` still moves per round
  and scores the image-only codes after 0, 1, 3 and 10 rounds on every split
  (:func:`refill_scores`; the chapter "Filling in the missing tags", ``book/fill.md``).

None of them reads the true :math:`w`. Models with an encoder for the image alone
(JMVAE-kl, PoE, MMVAE, MoPoE) need no fill: :math:`q(z|x)` is given the image alone.

**Generation** draws :math:`z` from the image-only posterior and averages the decoder's
tag probabilities over ``samples`` draws, an estimate of :math:`p(w_d = 1 \mid x)`.
**Coherence** (Shi et al. 2019; Sutter et al. 2021) asks whether a generated :math:`w`
belongs to the right class: a classifier trained on real training :math:`w` to predict the
label :math:`y` is applied to the generated :math:`w` (accuracy for single-label data such
as the MNIST digits, LRAP for multi-label data).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from .evaluate import LogisticProbe, data_hash, fit_probe, kept_probe, lrap, macro_average_precision, score
from .iwae import conditional_estimate
from .models import LatentModel, VariationalModel
from .objectives import log_standard_normal

#: The fill strategies, in the order of the module docstring.
FILLS = ("zeros", "random", "mean", "refill")
REFILL_ROUNDS = 3


def decoder_mean(model: LatentModel, modality: str, z: Tensor) -> Tensor:
    """:math:`\\mathbb E[m \\mid z]`: the Bernoulli probabilities or the Gaussian mean."""
    params = model.decoders[modality](z)
    return torch.sigmoid(params[0]) if model.likelihoods[modality] == "bernoulli" else params[0]


def fill(model: LatentModel, observed: Mapping[str, Tensor], strategy: str, mean: Tensor | None,
         missing: str = "w", generator: torch.Generator | None = None, rounds: int = REFILL_ROUNDS,
         ) -> dict[str, Tensor]:
    """``observed`` plus a value for the ``missing`` modality made by ``strategy`` (``FILLS``).

    ``mean`` is the training mean of the missing modality, shape (D,) (needed by the
    ``"mean"`` and ``"random"`` fills only). ``observed`` must not hold the missing
    modality: the fill never reads it.
    """
    if strategy not in FILLS:
        raise ValueError(f"unknown fill strategy {strategy!r}; expected one of {list(FILLS)}")
    if missing in observed:
        raise ValueError(f"fill makes {missing!r} up; pass only the observed modalities, found {sorted(observed)}")
    if mean is None and strategy in ("mean", "random"):
        raise ValueError(f"the {strategy!r} fill needs the training mean of {missing!r}; found mean=None")
    batch = len(next(iter(observed.values())))
    shape = (batch, model.modalities[missing].dim)
    device = next(iter(observed.values())).device
    if mean is not None:
        mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
    if strategy == "zeros":
        value = torch.zeros(shape, device=device)
    elif strategy == "mean":
        value = mean.expand(shape).clone()
    elif strategy == "random":
        value = torch.bernoulli(mean.clamp(0, 1).expand(shape), generator=generator)
    else:  # refill: a test-time computation, no gradients
        value = torch.zeros(shape, device=device)
        with torch.no_grad():
            for _ in range(rounds):
                z = model.code({**observed, missing: value}, mode="mean")
                value = decoder_mean(model, missing, z)
    return {**observed, missing: value}


def refill_path(model: LatentModel, observed: Mapping[str, Tensor], missing: str = "w", rounds: int = 10,
                ) -> list[float]:
    """How far each refill round moves the filled modality: mean absolute change per round."""
    value = torch.zeros(len(next(iter(observed.values()))), model.modalities[missing].dim)
    moves = []
    for _ in range(rounds):
        z = model.code({**observed, missing: value}, mode="mean")
        new = decoder_mean(model, missing, z)
        moves.append(float((new - value).abs().mean()))
        value = new
    return moves


class MissingView:
    """How a model sees a test example whose ``missing`` modality is absent.

    ``fill=None`` uses the model's own posterior given the observed modalities (JMVAE-kl,
    PoE, MMVAE, MoPoE); a fill strategy completes the input for a joint encoder (MAE, MVAE).
    ``rounds``: the refill rounds of the ``"refill"`` fill (:func:`fill`).
    """

    def __init__(self, model: LatentModel, fill_strategy: str | None, mean: np.ndarray | None = None,
                 missing: str = "w", rounds: int = REFILL_ROUNDS):
        observed = [m for m in model.modalities if m != missing]
        if fill_strategy is None and not (isinstance(model, VariationalModel) and model.can_condition_on(observed)):
            raise ValueError(f"{type(model).__name__} has only a joint encoder: give it a fill strategy "
                             f"({list(FILLS)})")
        self.model, self.fill, self.missing, self.rounds = model, fill_strategy, missing, rounds
        self.mean = None if mean is None else torch.as_tensor(mean, dtype=torch.float32)

    def observed(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {m: t for m, t in inputs.items() if m != self.missing}

    def completed(self, inputs, generator=None) -> dict[str, Tensor]:
        return fill(self.model, self.observed(inputs), self.fill, self.mean, self.missing, generator, self.rounds)

    def code(self, inputs, mode="sample", generator=None) -> Tensor:
        if self.fill is None:
            return self.model.code(self.observed(inputs), mode, generator, given=self.observed(inputs))
        return self.model.code(self.completed(inputs, generator), mode, generator)

    def posterior(self, inputs, generator=None):
        if self.fill is None:
            return self.model.posterior(self.observed(inputs), given=self.observed(inputs))
        return self.model.posterior(self.completed(inputs, generator))

    def generate(self, inputs, samples: int = 10, generator=None) -> Tensor:
        """The decoder's mean of the missing modality, averaged over ``samples`` draws of z."""
        if not isinstance(self.model, VariationalModel):
            return decoder_mean(self.model, self.missing, self.code(inputs, "mean"))
        z = self.posterior(inputs, generator).rsample(samples, generator)  # (S, B, D)
        S, B, D = z.shape
        return decoder_mean(self.model, self.missing, z.reshape(S * B, D)).reshape(S, B, -1).mean(0)


def _batches(inputs: Mapping[str, np.ndarray], batch_size: int, device):
    n = len(next(iter(inputs.values())))
    for start in range(0, n, batch_size):
        yield {m: torch.as_tensor(a[start:start + batch_size], dtype=torch.float32, device=device)
               for m, a in inputs.items()}


@torch.no_grad()
def collect(fn, inputs: Mapping[str, np.ndarray], device, batch_size: int = 500) -> np.ndarray:
    """``fn(batch)`` over ``inputs`` in batches, concatenated as a numpy array."""
    return torch.cat([fn(b).cpu() for b in _batches(inputs, batch_size, device)]).numpy()


def view_for(model: LatentModel, missing: str, fill_strategy: str = "zeros", mean=None) -> MissingView:
    """How ``model`` sees inputs without ``missing``: its own posterior given the rest when it
    has one, else the joint encoder fed ``fill_strategy`` (setting 4 of the paper: ``"zeros"``)."""
    observed = [m for m in model.modalities if m != missing]
    own = isinstance(model, VariationalModel) and model.can_condition_on(observed)
    return MissingView(model, None if own else fill_strategy, mean, missing)


@torch.no_grad()
def encode(model: LatentModel, inputs: Mapping[str, np.ndarray], mode: str = "sample", seed: int = 0,
           batch_size: int = 1000, missing: tuple[str, ...] = (), fill_strategy: str = "zeros",
           mean=None) -> np.ndarray:
    """Representations ``z`` of every row of ``inputs``, shape (n, latent).

    ``mode="sample"`` draws ``z ~ q(z|.)`` with a generator seeded by ``seed`` (the paper's
    protocol); ``"mean"`` returns the posterior mean. A modality named in ``missing`` is
    absent at test time (setting 4): the model conditions on the rest if it can (JMVAE-kl,
    PoE, MMVAE, MoPoE), else its joint encoder is fed ``fill_strategy`` (``"zeros"``, as in
    the paper; :func:`view_for`). The missing modality is never read.
    """
    if mode not in ("sample", "mean"):
        raise ValueError(f"mode must be 'sample' or 'mean', found {mode!r}")
    if len(missing) > 1:
        raise ValueError(f"one missing modality at a time; found {list(missing)}")
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    present = {m: inputs[m] for m in model.modalities if m not in missing}
    model.check_inputs({m: torch.zeros(1, model.modalities[m].dim) if m in missing else torch.as_tensor(inputs[m][:1])
                        for m in model.modalities if m in missing or m in inputs})  # names and shapes
    if missing:
        view = view_for(model, missing[0], fill_strategy, mean)
        return collect(lambda b: view.code(b, mode, generator), present, device, batch_size)
    return collect(lambda b: model.code(b, mode, generator), present, device, batch_size)


def coherence(classifier: LogisticProbe, generated: np.ndarray, y: np.ndarray) -> float:
    """Does generated data belong to the right class? Accuracy of ``classifier`` (trained on
    real data) when every row of ``y`` has one label, else its LRAP."""
    scores = classifier.decision_function(generated)
    if (y.sum(1) == 1).all():
        return float((scores.argmax(1) == y.argmax(1)).mean())
    return lrap(y, scores)


@torch.no_grad()
def log_likelihoods(model: LatentModel, view: MissingView, inputs: Mapping[str, np.ndarray], K: int,
                    seed: int = 0, batch_size: int = 100, per_example: bool = False) -> dict:
    """Test log-likelihoods of ``inputs`` in nats, all from the same ``K`` importance samples of
    the defensive mixture :math:`0.45\\, q(z|x, w) + 0.45\\, q(z|x) + 0.1\\, p(z)`
    (:func:`mvae_lib.iwae.conditional_estimate`), where :math:`q(z|x)` is ``view``'s posterior
    of the image alone:

    - ``ll_joint``: :math:`\\log p(x, w)`, an importance-weighted bound: a stochastic lower
      bound (below the truth on average over draws, by a bias of order :math:`1/K`);
    - ``ll_marginal``: :math:`\\log p(x)`, the same kind of bound;
    - ``ll_cond``: :math:`\\log p(w|x)`, their difference: consistent, bias of order
      :math:`1/K` and of either sign;
    - ``ess_joint``, ``ess_cond``: the median over examples of the effective sample size of
      the weights (:func:`mvae_lib.iwae.ess`) of :math:`p(x, w, z)`, and the smaller of that
      and the ESS of the weights of :math:`p(x, z)`; out of ``K``.

    Each log-likelihood is the mean over ``inputs``; ``per_example=True`` returns the
    per-example values as (n,) arrays instead. Costs ``K`` passes of the decoders per example.
    """
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    missing = view.missing

    parts = []
    for batch in _batches(inputs, batch_size, device):
        def log_joints(z):  # (log p(x, w, z), log p(x, z)), each (k, B), from one pass of the decoders
            log_lik = model.log_likelihoods(z, batch)
            observed = log_standard_normal(z) + sum(v for m, v in log_lik.items() if m != missing)
            return observed + log_lik[missing], observed

        parts.append(conditional_estimate(log_joints, model.posterior(batch), view.posterior(batch, generator), K,
                                          generator))
    est = {k: torch.cat([p[k] for p in parts]).cpu().numpy() for k in parts[0]}
    out = {"ll_joint": est["joint"], "ll_marginal": est["marginal"], "ll_cond": est["cond"],
           "ess_joint": est["ess_joint"], "ess_cond": est["ess_cond"]}
    if per_example:
        return out
    return {k: float(np.median(v) if k.startswith("ess") else v.mean()) for k, v in out.items()}



#: The refill rounds the book scores (:func:`refill_scores`): none (the zeros fill), one, ours, many.
ROUNDS_CHECKED = tuple(sorted({0, 1, REFILL_ROUNDS, 10 if REFILL_ROUNDS < 10 else 3 * REFILL_ROUNDS}))


@torch.no_grad()
def refill_scores(model: LatentModel, split, rounds=ROUNDS_CHECKED, encoding: str = "sample", seed: int = 1,
                  missing: str = "w", batch_size: int = 500) -> dict[int, dict[str, float]]:
    """Image-only scores of a joint encoder after each number of refill rounds in ``rounds``:
    ``{r: {"lrap": ..., "map": ...}}`` on the test set of ``split``.

    Scored as :func:`evaluate_missing` scores its ``lrap_image`` and ``map_image`` columns: the
    same probe, fitted on training codes of both modalities, the same codes of the filled
    input and the same seeds, so that ``r = REFILL_ROUNDS`` gives Table 3's "refill" cell and
    ``r = 0`` (:math:`w^{(0)} = 0`, no round) its "zeros" cell. No training: one fit of the
    probe, ``max(rounds)`` refill rounds (one chain, read at every ``r``) and ``len(rounds)``
    encodings of the test set. The chapter "Filling in the missing tags" (``book/fill.md``)
    chooses ``REFILL_ROUNDS`` from these scores.
    """
    rounds = sorted(set(rounds))
    if not rounds or any(not isinstance(r, int) or r < 0 for r in rounds):
        raise ValueError(f"rounds must be non-negative integers; found {rounds}")
    device = next(model.parameters()).device
    model.eval()
    gen = lambda s: torch.Generator(device=device).manual_seed(s)  # noqa: E731
    g_train = gen(seed)  # one generator for the pass: every batch draws fresh noise
    z_train = collect(lambda b: model.code(b, encoding, g_train), split.train, device)
    probe = fit_probe(z_train, split.y_train)
    g_image = {r: gen(seed + 2) for r in rounds}  # one generator per r, as evaluate_missing has per fill
    z_image: dict[int, list[Tensor]] = {r: [] for r in rounds}
    for batch in _batches(split.test, batch_size, device):
        observed = {m: t for m, t in batch.items() if m != missing}  # w is never read
        value = torch.zeros(len(batch[missing]), model.modalities[missing].dim, device=device)  # w^(0)
        for r in range(rounds[-1] + 1):
            if r in z_image:
                z_image[r].append(model.code({**observed, missing: value}, encoding, g_image[r]).cpu())
            if r < rounds[-1]:  # one round of fill(..., "refill")
                value = decoder_mean(model, missing, model.code({**observed, missing: value}, mode="mean"))
    return {r: score(split.y_test, probe.decision_function(torch.cat(z).numpy())) for r, z in z_image.items()}


def saved_refill_scores(run, split, rounds=ROUNDS_CHECKED, encoding: str = "sample") -> dict[int, dict[str, float]]:
    """:func:`refill_scores` of a saved run (:class:`mvae_lib.Run`) on its ``split``, computed
    once and kept beside the run (:func:`mvae_lib.runcache.save_scores`: tied to its weights,
    so a retrained run is scored again)."""
    from . import runcache

    rounds = sorted(set(rounds))
    spec = {"encoding": encoding, "rounds": rounds, "seed": 1, "codes": CODES_VERSION}
    saved = runcache.load_scores(run.path, "refill_rounds", spec)
    if not saved:
        saved = {str(r): v for r, v in refill_scores(run.model(), split, rounds, encoding).items()}
        runcache.save_scores(run.path, "refill_rounds", spec, saved)
    return {int(r): v for r, v in saved.items()}


#: How sampled codes are drawn in :func:`evaluate_missing` and :func:`refill_scores`: part of
#: the key of their saved scores (2: one generator per pass; before, each batch of 500 was
#: drawn from a generator seeded again, so every batch repeated the same noise).
CODES_VERSION = 2


def data_classifier(split, modality: str = "w", out_dir=None) -> LogisticProbe:
    """The coherence classifier of ``split``: the probe fitted on real training ``modality``
    to predict the labels. It depends on the data alone, so it is fitted once per split and
    process and shared by every model scored there, and kept under ``out_dir/runs/<data
    set>/classifiers/`` when ``out_dir`` is given (:func:`mvae_lib.evaluate.kept_probe`), so that the
    worker processes of a table, and later commands, fit it once (5 s of CPU a split)."""
    spec = {"kind": "data classifier", "dataset": split.name, "split": split.index, "modality": modality,
            "n": len(split.y_train), "data": data_hash(split.train[modality], split.y_train)}
    return kept_probe(out_dir, f"classifier-{modality}-split{split.index}", spec,
                      lambda: fit_probe(split.train[modality], split.y_train))


LIKELIHOOD_SEED = 0  #: seeds the choice of the test examples whose log-likelihoods are estimated


def likelihood_examples(split, n: int) -> np.ndarray:
    """The ``n`` test examples (sorted row indices) whose log-likelihoods are estimated: drawn
    at random, seeded by :data:`LIKELIHOOD_SEED`, the same for every model of a split. The test
    rows of MNIST halves are sorted by digit, so the first ``n`` would all be zeros."""
    total = len(split.y_test)
    if not 0 < n <= total:
        raise ValueError(f"n: expected between 1 and the {total} test examples, found {n}")
    return np.sort(np.random.default_rng(LIKELIHOOD_SEED).permutation(total)[:n])


def likelihood_view(model: VariationalModel, split, missing: str = "w") -> MissingView:
    """The image-only posterior that :func:`log_likelihoods` mixes into its proposal: the model's
    own, or for a joint-only encoder (the MVAE) the posterior of the refilled input."""
    observed = [m for m in model.modalities if m != missing]
    own = model.can_condition_on(observed)
    return MissingView(model, None if own else "refill", split.train[missing].mean(0), missing)


def evaluate_missing(model: LatentModel, split, fills: list[str | None], encoding: str = "sample",
                     seed: int = 1, K: int = 2000, n_ll: int = 100, samples: int = 10,
                     missing: str = "w", out_dir=None) -> dict[str | None, dict[str, float]]:
    """Table 3's scores for one trained model on one split, for each way in ``fills`` of
    seeing an image without its tags (a fill strategy, or None for the model's own
    image-only posterior). Returns ``{fill: {score: value}}``:

    - ``lrap_both`` / ``map_both``: the probe (fitted on training codes of both modalities)
      on test codes of both modalities (the same for every fill);
    - ``lrap_image`` / ``map_image``: the same probe on test codes of the image alone;
    - ``gen_ap``: macro average precision of the generated tag probabilities against the
      true tags; ``coherence``: see :func:`coherence`;
    - ``ll_joint``, ``ll_cond`` (generative models only): :math:`\\log p(x, w)` (a stochastic
      lower bound) and :math:`\\log p(w|x)` (consistent, bias of either sign) in nats per test
      example, over ``n_ll`` test examples (:func:`likelihood_examples`), estimated once per model by
      :func:`log_likelihoods`; ``ess_joint``, ``ess_cond``: the median effective sample size
      of their importance weights, out of ``K``. The image-only posterior in the proposal of
      :math:`\\log p(w|x)` is the model's own, or for a joint-only encoder the posterior of the
      refilled input (the best of the fills as a proposal; any proposal gives the same value
      as K grows).

    ``out_dir``: where the coherence classifier is kept (:func:`data_classifier`).
    """
    device = next(model.parameters()).device
    model.eval()
    mean = split.train[missing].mean(0)
    gen = lambda s: torch.Generator(device=device).manual_seed(s)  # noqa: E731
    g_train, g_test = gen(seed), gen(seed + 1)  # one generator per pass: fresh noise in every batch
    z_train = collect(lambda b: model.code(b, encoding, g_train), split.train, device)
    z_test = collect(lambda b: model.code(b, encoding, g_test), split.test, device)
    probe = fit_probe(z_train, split.y_train)
    both = score(split.y_test, probe.decision_function(z_test))
    classifier = data_classifier(split, missing, out_dir)
    shared = {"lrap_both": both["lrap"], "map_both": both["map"]}
    if isinstance(model, VariationalModel):
        rows = likelihood_examples(split, n_ll)
        ll = log_likelihoods(model, likelihood_view(model, split, missing),
                             {m: a[rows] for m, a in split.test.items()}, K, seed + 4)
        shared.update({k: ll[k] for k in ("ll_joint", "ll_cond", "ess_joint", "ess_cond")})
    out = {}
    for fill_strategy in fills:
        view = MissingView(model, fill_strategy, mean, missing)
        g_image, g_gen = gen(seed + 2), gen(seed + 3)
        z_image = collect(lambda b: view.code(b, encoding, g_image), split.test, device)
        image = score(split.y_test, probe.decision_function(z_image))
        generated = collect(lambda b: view.generate(b, samples, g_gen), split.test, device)
        out[fill_strategy] = {**shared, "lrap_image": image["lrap"], "map_image": image["map"],
                              "gen_ap": macro_average_precision(split.test[missing], generated),
                              "coherence": coherence(classifier, generated, split.y_test)}
    return out
