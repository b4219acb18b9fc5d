r"""What modality sub-sampling costs a mixture model: the cross-reconstruction terms.

Daunhawer, Sutter, Chin-Cheong, Palumbo & Vogt (ICLR 2022) call a multimodal VAE
*mixture-based* when its objective is a weighted sum, over subsets :math:`s` of the
modalities with weights :math:`\omega_s`, of ELBOs whose code is inferred from :math:`s`
alone but which reconstruct *every* modality:

.. math:: \mathcal L_S(x, w) = \sum_{s \in S} \omega_s \Big(
          \mathbb E_{q(z \mid s)}\big[\log p(x \mid z) + \log p(w \mid z)\big]
          - \mathrm{KL}\big(q(z \mid s) \,\|\, p(z)\big)\Big).

MoPoE is of that form (every non-empty subset, :math:`\omega_s = 1/3`); MMVAE is at
:math:`K = 1` (the two experts, :math:`\omega_s = 1/2`); its stratified bound with
:math:`K > 1` replaces each expectation by an importance-weighted one. A term with
:math:`m \notin s` is a *cross term*: the code never saw :math:`m` and must reconstruct it.
Averaged over the data, such a term is at most :math:`-H(m \mid s)`, the conditional
entropy of the unseen modality given the seen ones (cross-entropy is at least entropy, and
a code computed from :math:`s` knows no more about :math:`m` than :math:`s` does), so the
objective stays below :math:`\log p` by at least their weighted sum, the *generative
discrepancy* (their main theorem).

This module measures that cost on trained models, per example and in nats:

- :func:`reconstruction_weights`: which terms :math:`\mathbb E_{q(z|s)} \log p(m|z)` each
  model's objective contains, with which weights (read off the models' definitions);
- :func:`cross_share`: the share of a modality's reconstruction weight carried by codes
  that did not see it (MMVAE 1/2, MoPoE 1/3, the others 0);
- :func:`expected_log_likelihood`: :math:`\mathbb E_{q} \log p(m \mid z)` by Monte Carlo,
  with its Monte Carlo standard error;
- :func:`cross_terms`: for each modality :math:`m`, the cross term (code from the other
  modalities) against the reference term of a code that saw :math:`m`
  (:func:`seen_posterior`), and their difference, the *deficit*;
- :func:`objective_bound`: the model's bound of :math:`\log p(x, w)` in that form, on test data,
  with its parts (each subset's expected log-likelihoods and KL);
- :func:`predicted_cost`: :math:`\sum_{(s, m):\, m \notin s} \omega_{s,m}\,\mathrm{deficit}_m`,
  what the cross terms cost the objective against codes that saw what they reconstruct;
- :func:`component_lrap`: the probe's LRAP on codes of complete pairs drawn from each
  component of a mixture posterior (a mixture's "both" code is a code of one modality
  alone whenever a unimodal component is drawn).

The chapter "Why mixtures pay" (``book/mixtures_pay.md``) runs all of it on the saved
runs of Table 3.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .crossmodal import likelihood_examples
from .models import JMVAE, MMVAE, MoPoE, PoEMVAE, VariationalModel
from .posteriors import Gaussian

Subset = tuple[str, ...]


def reconstruction_weights(model: VariationalModel) -> dict[Subset, dict[str, float]]:
    r"""``{s: {m: weight}}``: the weight of :math:`\mathbb E_{q(z|s)} \log p(m \mid z)` in the
    model's training objective (module docstring), for every subset ``s`` the objective
    encodes and every modality ``m`` it reconstructs from that code (the bounds are derived in
    the chapter "Encoders for every subset", ``book/subsets.md``).

    - MMVAE's stratified bound (at :math:`K = 1`): every expert reconstructs every modality,
      weight :math:`1/M`;
    - MoPoE's average of subset bounds: every non-empty subset reconstructs every modality, :math:`1/|S|`;
    - PoE's sum of bounds: the full set and each modality alone, each reconstructing
      only its own modalities, weight 1;
    - the MVAE and JMVAE-kl: the joint code reconstructs every modality, weight 1
      (JMVAE-kl's penalty has no reconstruction term).
    """
    names = tuple(model.modalities)
    if isinstance(model, MMVAE):
        return {(m,): {t: 1 / len(names) for t in names} for m in names}
    if isinstance(model, MoPoE):
        return {tuple(s): {t: 1 / len(model.subsets) for t in names} for s in model.subsets}
    if isinstance(model, PoEMVAE):
        return {s: {t: 1.0 for t in s} for s in [names] + [(m,) for m in names]}
    if type(model).loss in (VariationalModel.loss, JMVAE.loss):  # the MVAE's bound, JMVAE-kl's plus a KL penalty
        return {names: {t: 1.0 for t in names}}
    raise ValueError(f"no reconstruction weights are declared for {type(model).__name__}: add its objective's "
                     "terms to mvae_lib.tradeoff.reconstruction_weights")


def cross_weights(model: VariationalModel) -> dict[tuple[Subset, str], float]:
    """``{(s, m): weight}`` of the cross terms of the objective: codes of ``s`` reconstructing ``m``, ``m`` not in ``s``."""
    return {(s, m): w for s, targets in reconstruction_weights(model).items() for m, w in targets.items()
            if m not in s}


def cross_share(model: VariationalModel, target: str) -> float:
    """The share of ``target``'s reconstruction weight in the objective that is carried by codes that
    did not see it: 1/2 for MMVAE, 1/3 for MoPoE, 0 for the MVAE, JMVAE-kl and PoE."""
    weights = [(s, targets[target]) for s, targets in reconstruction_weights(model).items() if target in targets]
    if not weights:
        raise ValueError(f"{type(model).__name__}'s objective never reconstructs {target!r}")
    return sum(w for s, w in weights if target not in s) / sum(w for _, w in weights)


def objective_posterior(model: VariationalModel, inputs: Mapping[str, Tensor], subset: Subset) -> Gaussian:
    """:math:`q(z \\mid s)` as the objective of ``model`` uses it for ``subset``: MoPoE's product
    :math:`q_s` (no prior expert), PoE's product with the prior, an expert, or a joint encoder."""
    if isinstance(model, MoPoE):
        return model.subset_posterior(inputs, subset)
    q = model.posterior(inputs, given=subset)
    if not isinstance(q, Gaussian):
        raise ValueError(f"{type(model).__name__}'s posterior given {subset} is a mixture, not a term of its objective")
    return q


def seen_posterior(model: VariationalModel, inputs: Mapping[str, Tensor], target: str) -> Gaussian:
    """The reference code for reconstructing ``target``: the model's own Gaussian posterior that read
    ``target``, with every modality where it has one (the joint encoder of the MVAE and JMVAE-kl,
    PoE's product, MoPoE's product of all experts), else ``target``'s own expert (MMVAE, whose
    posterior given every modality is a mixture)."""
    names = tuple(model.modalities)
    if isinstance(model, MoPoE):
        return model.subset_posterior(inputs, names)
    if isinstance(model, MMVAE):
        return model.posterior(inputs, given=(target,))
    return objective_posterior(model, inputs, names)


@torch.no_grad()
def expected_log_likelihood(model: VariationalModel, q: Gaussian, inputs: Mapping[str, Tensor], target: str,
                            draws: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """:math:`\\mathbb E_{z \\sim q} \\log p(\\text{target} \\mid z)` per example by ``draws`` draws of
    ``q``, and the variance of its draws per example: two (B,) tensors, in nats."""
    if draws < 2:
        raise ValueError(f"draws must be >= 2 (the spread needs two); found {draws}")
    z = q.rsample(draws, generator)                                       # (L, B, D)
    ll = model.log_likelihoods(z, inputs, [target])[target]               # (L, B)
    return ll.mean(0), ll.var(0)


@dataclass(frozen=True)
class Term:
    """A Monte Carlo mean over examples of per-example expectations, in nats per example.

    ``mc_se`` is the standard error of ``mean`` from the draws alone,
    :math:`\\sqrt{\\sum_i \\hat\\sigma_i^2 / L} / n` for :math:`n` examples with draw variances
    :math:`\\hat\\sigma_i^2` and :math:`L` draws each."""

    mean: float
    mc_se: float


def _term(means: Tensor, variances: Tensor, draws: int) -> Term:
    n = means.numel()
    return Term(float(means.mean()), float(math.sqrt(float(variances.sum()) / draws) / n))


@dataclass(frozen=True)
class CrossTerms:
    """For one modality ``target``: the cross term (a code of the other modalities) and the
    reference term (a code that saw it, :func:`seen_posterior`), both
    :math:`\\mathbb E_q \\log p(\\text{target} \\mid z)` averaged over the examples; ``deficit`` =
    reference - cross (nats per example), with the Monte Carlo standard error of that difference."""

    target: str
    cross: Term
    reference: Term

    @property
    def deficit(self) -> float:
        return self.reference.mean - self.cross.mean

    @property
    def deficit_mc_se(self) -> float:
        return math.hypot(self.reference.mc_se, self.cross.mc_se)


def unseen_posterior(model: VariationalModel, inputs: Mapping[str, Tensor], target: str, fill_mean=None):
    """The code computed without ``target``: the model's own posterior of the other modalities,
    or for a joint-only encoder (the MVAE) the posterior of the refilled input
    (:func:`mvae_lib.crossmodal.likelihood_view`'s choice; ``fill_mean``: the training mean of ``target``)."""
    from .crossmodal import MissingView

    others = tuple(m for m in model.modalities if m != target)
    if model.can_condition_on(others):
        return objective_posterior(model, inputs, others)
    if fill_mean is None:
        raise ValueError(f"{type(model).__name__} cannot encode {others} without {target!r}: pass fill_mean, the "
                         f"training mean of {target!r}, for the refill")
    return MissingView(model, "refill", fill_mean, target).posterior(inputs)


@torch.no_grad()
def cross_terms(model: VariationalModel, inputs: Mapping[str, np.ndarray], draws: int = 20, seed: int = 0,
                batch_size: int = 500, fill_means: Mapping[str, np.ndarray] | None = None) -> dict[str, CrossTerms]:
    """:class:`CrossTerms` of every modality of ``model`` on ``inputs`` (arrays keyed by modality), with
    ``draws`` draws of z per example and term, seeded by ``seed``. ``fill_means``: the training mean of each
    modality, used only by a model that cannot encode a modality's complement (the MVAE)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    n = len(next(iter(inputs.values())))
    parts: dict[str, dict[str, list[Tensor]]] = {m: {"cm": [], "cv": [], "rm": [], "rv": []} for m in model.modalities}
    for start in range(0, n, batch_size):
        batch = {m: torch.as_tensor(a[start:start + batch_size], dtype=torch.float32, device=device)
                 for m, a in inputs.items()}
        for m in model.modalities:
            mean = None if fill_means is None else fill_means.get(m)
            q_cross = unseen_posterior(model, batch, m, mean)
            cm, cv = expected_log_likelihood(model, q_cross, batch, m, draws, generator)
            rm, rv = expected_log_likelihood(model, seen_posterior(model, batch, m), batch, m, draws, generator)
            for key, value in (("cm", cm), ("cv", cv), ("rm", rm), ("rv", rv)):
                parts[m][key].append(value.cpu())
    out = {}
    for m, p in parts.items():
        cat = {k: torch.cat(v) for k, v in p.items()}
        out[m] = CrossTerms(m, _term(cat["cm"], cat["cv"], draws), _term(cat["rm"], cat["rv"], draws))
    return out


def predicted_cost(model: VariationalModel, terms: Mapping[str, CrossTerms]) -> float:
    """What the cross terms cost the objective, in nats per example:
    :math:`\\sum_{(s, m):\\, m \\notin s} \\omega_{s,m}\\, \\mathrm{deficit}_m`, the weights of
    :func:`cross_weights`; 0 for a model whose objective has no cross term.

    With two modalities every cross term's code is that of the other modality alone, which is
    what ``terms[m].cross`` measures; with more, a subset missing ``m`` may hold several
    modalities, which :func:`cross_terms` does not measure: a ValueError then."""
    cost = 0.0
    for (s, m), w in cross_weights(model).items():
        if set(s) != set(model.modalities) - {m}:
            raise ValueError(f"the cross term of {s} for {m!r} is not measured by cross_terms (two modalities only)")
        cost += w * terms[m].deficit
    return cost


def subsampled_weights(model: VariationalModel) -> dict[Subset, float]:
    """``{s: omega_s}``: the weights of the subsets' ELBOs in a mixture-based objective (module
    docstring): MMVAE's experts 1/M, MoPoE's subsets one over their number; the joint ELBO (weight 1) for a model
    whose bound of :math:`\\log p(x, w)` is the MVAE's (the MVAE, JMVAE-kl's :math:`\\mathcal L(x, w)`,
    PoE's :math:`\\mathcal L(x, w)`)."""
    names = tuple(model.modalities)
    if isinstance(model, MMVAE):
        return {(m,): 1 / len(names) for m in names}
    if isinstance(model, MoPoE):
        return {tuple(s): 1 / len(model.subsets) for s in model.subsets}
    return {names: 1.0}


@torch.no_grad()
def objective_bound(model: VariationalModel, inputs: Mapping[str, np.ndarray], draws: int = 20, seed: int = 0,
               batch_size: int = 500) -> tuple[Term, dict[Subset, dict[str, float]]]:
    r"""The model's bound of :math:`\log p(x, w)` in the form of the module docstring,
    :math:`\sum_s \omega_s (\mathbb E_{q(z|s)}[\log p(x|z) + \log p(w|z)] - \mathrm{KL}(q(z|s) \| p))`
    with the weights of :func:`subsampled_weights`, averaged over ``inputs`` (nats per example), and
    its parts: ``{s: {"rec_x": ..., "rec_w": ..., "kl": ...}}`` (expected log-likelihoods and KL, means
    over the examples). For MoPoE it is its training objective; for MMVAE it is the form at
    :math:`K = 1` with a KL per expert, at most its :math:`K = 1` bound (the KL is convex); for the
    others the joint ELBO. The Monte Carlo standard error comes from the draws of the
    reconstruction terms (the KLs are in closed form)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    n = len(next(iter(inputs.values())))
    weights = subsampled_weights(model)
    sums = {s: {**{f"rec_{m}": 0.0 for m in model.modalities}, "kl": 0.0} for s in weights}
    var = 0.0
    for start in range(0, n, batch_size):
        batch = {m: torch.as_tensor(a[start:start + batch_size], dtype=torch.float32, device=device)
                 for m, a in inputs.items()}
        for s, w in weights.items():
            q = objective_posterior(model, batch, s)
            z = q.rsample(draws, generator)                               # (L, B, D)
            lls = model.log_likelihoods(z, batch)                         # {m: (L, B)}
            for m, ll in lls.items():
                sums[s][f"rec_{m}"] += float(ll.mean(0).sum())
            sums[s]["kl"] += float(q.kl_to_prior().sum())
            var += float((w ** 2 * sum(lls.values()).var(0)).sum())
    parts = {s: {k: v / n for k, v in p.items()} for s, p in sums.items()}
    mean = sum(w * (sum(v for k, v in parts[s].items() if k.startswith("rec_")) - parts[s]["kl"])
               for s, w in weights.items())
    return Term(mean, math.sqrt(var / draws) / n), parts


@torch.no_grad()
def component_lrap(model: VariationalModel, split, seed: int = 1, batch_size: int = 500) -> dict[str, float]:
    """LRAP of the Table 3 probe on test codes of complete pairs drawn from each component of a mixture
    posterior (MMVAE: ``"x"``, ``"w"``; MoPoE: ``"x"``, ``"w"``, ``"x+w"``), and ``"mixture"`` for the
    mixture itself.

    The probe and the codes are made as in :func:`mvae_lib.crossmodal.evaluate_missing` with the same
    seeds (one generator per batch, seeded by ``seed`` for the training codes and ``seed + 1`` for the
    test codes; Table 3 scores with ``seed = 1``), so ``"mixture"`` reproduces Table 3's "LRAP, x and w".
    Each test example's mixture code comes from one component picked with its weight, and LRAP is a mean
    over examples, so the expected mixture LRAP is the weighted mean of the components' LRAPs."""
    from .crossmodal import collect
    from .evaluate import fit_probe, lrap

    device = next(model.parameters()).device
    gen = lambda s: torch.Generator(device=device).manual_seed(s)  # noqa: E731
    model.eval()
    if not isinstance(model, (MMVAE, MoPoE)):
        raise ValueError(f"{type(model).__name__}'s posterior given every modality is not a mixture")
    z_train = collect(lambda b: model.code(b, "sample", gen(seed)), split.train, device, batch_size)
    probe = fit_probe(z_train, split.y_train)
    subsets = model.subsets if isinstance(model, MoPoE) else [(m,) for m in model.modalities]
    out = {}
    for i, s in enumerate(subsets):  # the components of model.posterior, in its order
        z = collect(lambda b: model.posterior(b).components[i].rsample(1, gen(seed + 1))[0], split.test, device,
                    batch_size)
        out["+".join(s)] = lrap(split.y_test, probe.decision_function(z))
    z = collect(lambda b: model.code(b, "sample", gen(seed + 1)), split.test, device, batch_size)
    out["mixture"] = lrap(split.y_test, probe.decision_function(z))
    return out


#: Version of the measurements of :func:`measure_run`: part of the key of the scores kept beside a run.
MEASURE_VERSION = 2


def measure_run(run, split, n: int = 1000, draws: int = 10, seed: int = 0, ll_examples: bool = False,
                device=None) -> dict[str, float]:
    """Every measurement of this module for one saved run (:class:`mvae_lib.runs.Run`) on ``split``,
    as a flat dict of floats, kept beside the run (:func:`mvae_lib.runcache.save_scores`) so that a
    rerun computes nothing twice.

    On ``n`` test examples drawn at random (seeded by ``seed``; the test rows are sorted by class),
    or with ``ll_examples=True`` on those whose log-likelihoods Table 3 estimates
    (:func:`mvae_lib.crossmodal.likelihood_examples`), with ``draws`` draws of z per example and
    term: for each modality ``m`` the cross term
    ``cross_m``, the reference term ``ref_m``, ``deficit_m`` and its Monte Carlo standard error
    ``deficit_m_se`` (:func:`cross_terms`); ``cost`` (:func:`predicted_cost`); ``bound`` and
    ``bound_se`` (:func:`objective_bound`) and its parts ``rec_<m>@<s>``, ``kl@<s>``; for a
    mixture and a random sample, ``lrap@<component>`` and ``lrap@mixture`` (:func:`component_lrap`,
    all test examples).
    """
    from . import runcache
    from .train import pick_device

    spec = {"n": n, "draws": draws, "seed": seed, "ll_examples": ll_examples, "version": MEASURE_VERSION}
    saved = runcache.load_scores(run.path, "tradeoff", spec)
    if saved:
        return saved
    model = run.model(pick_device(device))
    rows = likelihood_examples(split, n) if ll_examples else np.sort(
        np.random.default_rng(seed).permutation(len(split.y_test))[:n])
    inputs = {m: a[rows] for m, a in split.test.items()}
    fill_means = {m: a.mean(0) for m, a in split.train.items()}
    terms = cross_terms(model, inputs, draws, seed, fill_means=fill_means)
    out: dict[str, float] = {}
    for m, t in terms.items():
        out.update({f"cross_{m}": t.cross.mean, f"ref_{m}": t.reference.mean, f"deficit_{m}": t.deficit,
                    f"deficit_{m}_se": t.deficit_mc_se})
    out["cost"] = predicted_cost(model, terms)
    bound, parts = objective_bound(model, inputs, draws, seed + 1)
    out["bound"], out["bound_se"] = bound.mean, bound.mc_se
    for s, p in parts.items():
        out.update({f"{k}@{'+'.join(s)}": v for k, v in p.items()})
    if isinstance(model, (MMVAE, MoPoE)) and not ll_examples:
        out.update({f"lrap@{k}": v for k, v in component_lrap(model, split).items()})  # Table 3's seeds
    runcache.save_scores(run.path, "tradeoff", spec, out)
    return out


def measure_model(dataset: str, model: str, split: int, *, preset, out_dir, n: int = 1000, draws: int = 10,
                  ll_examples: bool = False, device=None, data_root=None) -> dict[str, float]:
    """:func:`measure_run` of the saved Table 3 run of ``model`` on ``split`` (trained first if it
    is not saved), by name: a job for :func:`mvae_lib.runner.run_jobs`, so that the runs of a
    chapter are measured in parallel worker processes, one thread each."""
    from .datasets import load_split
    from .runner import run_threads_on
    from .runs import get_run

    run = get_run(dataset, model, 3, split, preset=preset, out_dir=out_dir, device=device, data_root=data_root,
                  progress=False)
    with run_threads_on(preset, device):
        return measure_run(run, load_split(dataset, split, data_root), n, draws, ll_examples=ll_examples,
                           device=device)


def as_results(measures: Mapping[tuple[str, int], Mapping[str, float]], dataset: str):
    """``{(model, split): measure_run(...)}`` as tidy :class:`~mvae_lib.results.Results` (setting
    ``"tradeoff"``), so that :func:`mvae_lib.stats.compare` pairs any two models' measurements split by split."""
    from .results import Results

    rows = [{"dataset": dataset, "table": "tradeoff", "model": model, "setting": "tradeoff", "split": k,
             "metric": metric, "value": value}
            for (model, k), values in measures.items() for metric, value in values.items()]
    return Results(rows, dataset, {})
