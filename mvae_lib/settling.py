r"""Has an importance-weighted estimate settled? Estimates at several :math:`K`, repeated.

An importance-weighted estimate (:mod:`mvae_lib.iwae`) with effective sample sizes of a
few draws out of thousands has not seen the tail of its weights, and nothing computed
from those draws says how far it still is from the truth. What can be measured is how much
it moves when :math:`K` grows, and how much it varies between independent repeats.
:func:`settle` estimates both log-likelihood columns of Table 3 at each :math:`K` of a list,
``repeats`` times with independent draws, on a few test examples; :func:`resolution` turns
the estimates of several models into the smallest difference between models that the
estimates resolve:

.. math:: \delta = \max_{\text{models}} \big|\bar\ell_{K_{\max}} - \bar\ell_{K}\big|
          + \max_{\text{models}} \mathrm{sd}_{\text{repeats}}(\ell_{K}),

with :math:`K` the value Table 3 uses and :math:`K_{\max}` the largest tried. It is a floor,
not a guarantee: the movement from :math:`K` to :math:`K_{\max}` is less than the bias left
at :math:`K` whenever the estimate is still moving at :math:`K_{\max}` (for the lower bound
:math:`\log p(x, w)`, always). A difference below :math:`\delta` is not resolved; one above
it is not thereby proven. The chapter "Encoders for every subset" runs it for every model.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from . import runcache
from .crossmodal import likelihood_examples, likelihood_view, log_likelihoods

COLUMNS = ("ll_joint", "ll_cond")  # Table 3's log-likelihood columns
ESS = {"ll_joint": "ess_joint", "ll_cond": "ess_cond"}


@dataclass(frozen=True)
class Settling:
    """Estimates of one model at each of ``Ks``, ``repeats`` times (:func:`settle`).

    Attributes
    ----------
    Ks : tuple of int
        Importance samples per estimate, increasing; ``Ks[-2]`` is the one judged.
    means : dict
        ``{column: [[mean over the examples, per repeat] per K]}``; the largest K has one
        repeat (it costs as much as all the others together).
    ess : dict
        ``{column: [median ESS over examples and repeats, per K]}``.
    n : int
        Test examples averaged over.
    """

    Ks: tuple[int, ...]
    means: dict[str, list[list[float]]]
    ess: dict[str, list[float]]
    n: int

    def estimate(self, column: str) -> np.ndarray:
        """The estimate at each K, averaged over repeats: shape (len(Ks),)."""
        return np.array([np.mean(at) for at in self.means[column]])

    def movement(self, column: str) -> float:
        """How much the estimate moves from ``Ks[-2]`` to ``Ks[-1]`` (signed, nats)."""
        est = self.estimate(column)
        return float(est[-1] - est[-2])

    def spread(self, column: str) -> float:
        """Standard deviation over the repeats at ``Ks[-2]`` (nats; 0 with one repeat)."""
        at = np.asarray(self.means[column][-2])
        return float(at.std(ddof=1)) if len(at) > 1 else 0.0


def settle(model, view, inputs: Mapping[str, np.ndarray], Ks: Sequence[int], repeats: int = 3,
           seed: int = 0) -> Settling:
    """Both log-likelihood columns of ``model`` on ``inputs`` (:func:`mvae_lib.crossmodal.log_likelihoods`)
    at each of ``Ks``, ``repeats`` times with independent draws (seeds ``seed``, ``seed + 1``, ...),
    except the largest K, estimated once (with a seed of its own): it only measures where
    the estimate goes, and it costs as much as all the smaller ones together."""
    Ks = tuple(sorted(int(k) for k in Ks))
    if len(Ks) < 2 or repeats < 1:
        raise ValueError(f"settle needs at least two values of K and one repeat; found Ks={list(Ks)}, "
                         f"repeats={repeats}")
    means = {c: [] for c in COLUMNS}
    ess = {c: [] for c in COLUMNS}
    for K in Ks:
        seeds = [seed + repeats] if K == Ks[-1] else [seed + r for r in range(repeats)]
        runs = [log_likelihoods(model, view, inputs, K, seed=s, per_example=True) for s in seeds]
        for c in COLUMNS:
            means[c].append([float(r[c].mean()) for r in runs])
            ess[c].append(float(np.median(np.concatenate([r[ESS[c]] for r in runs]))))
    return Settling(Ks, means, ess, len(next(iter(inputs.values()))))


def settle_model(dataset: str, model: str, split: int, *, preset, out_dir, Ks: Sequence[int], n: int = 10,
                 repeats: int = 3, device=None, data_root=None) -> Settling:
    """:func:`settle_run` of the saved Table 3 run of ``model`` on ``split`` (trained first if it is
    not saved), by name: a job for :func:`mvae_lib.runner.run_jobs`, so that the models of a
    settling check run in parallel, one thread each, like Table 3's scoring."""
    from .datasets import load_split
    from .runner import run_threads_on
    from .runs import get_run

    run = get_run(dataset, model, 3, split, preset=preset, out_dir=out_dir, device=device, data_root=data_root,
                  progress=False)
    with run_threads_on(preset, device):
        return settle_run(run, load_split(dataset, split, data_root), Ks, n, repeats)


def settle_run(run, split, Ks: Sequence[int], n: int = 10, repeats: int = 3, seed: int = 0,
               missing: str = "w") -> Settling:
    """:func:`settle` of a saved run on ``n`` test examples of ``split`` (drawn as those whose
    log-likelihoods Table 3 estimates, a subset of them for a smaller ``n``: :func:`mvae_lib.crossmodal.likelihood_examples`), with the
    proposal Table 3 uses (:func:`mvae_lib.crossmodal.likelihood_view`); kept beside the run
    (:func:`mvae_lib.runcache.save_scores`), so that another chapter reads it back."""
    from .table3 import LL_ESTIMATOR

    spec = {"Ks": sorted(int(k) for k in Ks), "n": n, "repeats": repeats, "seed": seed, "missing": missing,
            "ll_estimator": LL_ESTIMATOR, "largest_once": True}
    saved = runcache.load_scores(run.path, "settle", spec)
    if saved:
        return Settling(tuple(saved["Ks"]), saved["means"], saved["ess"], saved["n"])
    model = run.model()
    rows = likelihood_examples(split, n)
    result = settle(model, likelihood_view(model, split, missing), {m: a[rows] for m, a in split.test.items()},
                    Ks, repeats, seed)
    runcache.save_scores(run.path, "settle", spec, asdict(result))
    return result


def resolution(settlings: Mapping[str, Settling], column: str) -> float:
    """The smallest difference in ``column`` between two of the models of ``settlings`` that
    their estimates resolve: the largest movement plus the largest spread (module docstring)."""
    if not settlings:
        raise ValueError("resolution needs the settling check of at least one model")
    return (max(abs(s.movement(column)) for s in settlings.values())
            + max(s.spread(column) for s in settlings.values()))
