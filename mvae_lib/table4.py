r"""Table 4: four modalities (the quadrants of MNIST digits), scored against how many are observed.

Each model of Part III is trained once on all four quadrants of ``mnist-quadrants`` and then
asked, for every non-empty subset :math:`O` of the quadrants, about the digit seen through
:math:`O` alone. The scores of a subset (:func:`score_quadrant_run`):

- ``acc``: the linear probe, fitted on training codes of all four quadrants, on test codes
  of :math:`O` (digit accuracy): does a code of part of the digit lie where the codes of
  whole digits of its class lie? ``acc_fit``: a probe fitted on training codes of
  :math:`O` itself (how much digit information the code of :math:`O` holds);
- ``coherence``: the observed quadrants completed by the generated ones (the decoders'
  pixel probabilities, averaged over draws of the code given :math:`O`), read by a
  classifier fitted on real whole training digits (:func:`digit_classifier`). With all
  four observed nothing is generated: the classifier's accuracy on the real test digits,
  the same for every model, the ceiling;
- ``ll_cond``: :math:`\log p(x_{\bar O} \mid x_O)` in nats per test example, from the
  defensive-mixture estimator of Table 3 (:func:`mvae_lib.iwae.conditional_estimate`:
  :math:`\log p(x) - \log p(x_O)` on the same draws), with ``ess_cond``;
- and per model ``ll_joint``, :math:`\log p(x)` of the whole digit (``K`` draws of
  :math:`0.9\, q(z \mid x) + 0.1\, p(z)`); ``bound``, the model's own training objective on
  the test digits (:func:`bound_of`);
  and ``acc_joint``: for a mixture, the probe on ``joint_code`` (one code that reads all
  four: a draw of the mixture reads one expert or subset), for the others ``acc`` at k = 4.

Table 4 averages each score over the subsets of each size :math:`k = 1, \dots, 4`
(:func:`run_table4`; the tidy rows also keep every subset, keyed ``"tl+bl"``).

**Models.** The MVAE's one encoder is fed zeros or refilled quadrants
(:class:`SubsetView`); PoE, MMVAE, MoPoE and MMVAE+ condition on :math:`O` with their own
posteriors. JMVAE-kl is left out: its objective pulls a unimodal encoder towards the joint
one for each modality, and answering every subset would need an encoder per subset (15
here), which its authors' two-modality formulation does not define. The conditional VAE
(:class:`mvae_lib.models.CVAE`) is trained once per configuration of Sohn et al. (2015):
the bottom-left quadrant, the left half, and all but the bottom-right (``SOHN_CONFIGS``).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from . import runcache
from .config import ModelConfig, Preset
from .crossmodal import collect, decoder_mean, likelihood_examples
from .datasets import check_available, dataset_name, join_digit, load_split
from .evaluate import LogisticProbe, data_hash, fit_probe, kept_probe
from .iwae import ess, iw_log_weights
from .models import CVAE, Modality, VariationalModel, build_model, model_spec
from .objectives import log_standard_normal
from .posteriors import Gaussian, Mixture
from .results import Results
from .runner import default_workers, parse_devices, run_jobs, run_threads_on
from .runs import fills_by_model, resolve_preset, split_list
from .train import pick_device, train

DATASET = "mnist-quadrants"
OWN = "q(z|O)"  #: the fill column of a model that conditions on the observed quadrants itself
CVAE_MODEL = "CVAE"
#: Epochs of every Table 4 run (the ``small`` preset's widths); ours, for CPU time: the
#: four-modality models cost 2-5 times the MVAE's step (benchmarks/throughput.py).
TABLE4_EPOCHS = 10
#: Sohn et al.'s (2015) MNIST quadrant task: the observed quadrants with 1, 2 and 3 given.
SOHN_CONFIGS = (("bl",), ("tl", "bl"), ("tl", "tr", "bl"))
RUN_FORMAT = 1  # bump when a change alters what a Table 4 run's training computes
REFILL_ROUNDS = 3
CLASSIFIER_STEPS = 100  #: L-BFGS steps of the coherence classifier (:func:`digit_classifier`)


@dataclass(frozen=True)
class Row4:
    """A row of Table 4: a model, how it sees a subset (a fill, or ``OWN``), its options."""

    model: str
    fill: str = OWN
    options: tuple[tuple[str, object], ...] = ()

    @property
    def name(self) -> str:
        if not self.options:
            return self.model
        return f"{self.model} (" + ", ".join(f"{k}={v}" for k, v in self.options) + ")"

    @property
    def label(self) -> str:
        return self.name if self.fill == OWN else f"{self.name}, {self.fill}"


#: MMVAE with K = 1 draw per expert, as MMVAE+ (their PolyMNIST setting): the two mixtures of
#: experts compared like with like, at a quarter of K = 4's decoder passes (Table 3 keeps K = 4).
ROW_MMVAE = Row4("MMVAE", options=(("K", 1),))
TABLE4_ROWS = (Row4("MVAE", "zeros"), Row4("MVAE", "refill"), Row4("PoE"), ROW_MMVAE, Row4("MoPoE"),
               Row4("MMVAE+"))
FILLS4 = ("zeros", "refill")


@dataclass(frozen=True)
class EvalConfig4:
    """How Table 4 is scored (ours: sized for a CPU).

    Attributes
    ----------
    K : int
        Importance samples per example and subset (``K`` decoder passes).
    n_ll : int
        Test examples whose likelihoods are estimated (the same random draw for every model,
        :func:`mvae_lib.crossmodal.likelihood_examples`).
    samples : int
        Draws of the code averaged per completion.
    examples : int or None
        Training and test digits the probes and completions use (a seeded random draw of
        each, the same for every model: :func:`scored_examples`); None: all of them.
    """

    K: int = 200
    n_ll: int = 50
    samples: int = 3
    examples: int | None = None


#: The book's quick build (a smoke test): fewer draws, and 500 training and test digits.
QUICK_EVALUATION4 = EvalConfig4(K=50, n_ll=20, samples=2, examples=500)


def scored_examples(split, n: int | None):
    """``split`` with ``n`` of its training and ``n`` of its test digits (a random draw seeded by
    the split's index, the same for every model), or ``split`` itself when ``n`` is None."""
    if n is None:
        return split
    from dataclasses import replace

    rng = np.random.default_rng([7, split.index])
    tr = np.sort(rng.permutation(len(split.y_train))[:n])
    te = np.sort(rng.permutation(len(split.y_test))[:n])
    return replace(split, train={m: a[tr] for m, a in split.train.items()},
                   test={m: a[te] for m, a in split.test.items()}, y_train=split.y_train[tr],
                   y_test=split.y_test[te])


def subsets(names) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``names``, by size, each in the order of ``names``."""
    names = list(names)
    return [s for r in range(1, len(names) + 1) for s in combinations(names, r)]


def key_of(subset) -> str:
    return "+".join(subset)


def size_of(key: str) -> int:
    """How many modalities the subset key ``"tl+bl"`` names."""
    return key.count("+") + 1


def _ll_data(split, n_ll: int, device) -> dict:
    """The test examples whose likelihoods Table 4 estimates (:func:`likelihood_examples`)."""
    rows = likelihood_examples(split, n_ll)
    return {m: torch.as_tensor(a[rows], device=device) for m, a in split.test.items()}


def _ll_views(model) -> dict:
    """Every proper subset's :class:`SubsetView` for the likelihoods: the model's own
    posterior where it has one, else (the MVAE) the refilled input, whatever the row's fill."""
    names = list(model.modalities)
    fill = None if all(model.can_condition_on(s) for s in subsets(names)) else "refill"
    return {key_of(s): SubsetView(model, s, fill) for s in subsets(names)[:-1]}


def check_row4(row: Row4) -> None:
    spec = model_spec(row.model)
    if spec.reads != "all" or row.model == "JMVAE-kl" or spec.cls.__name__ == "MAE":
        raise ValueError(f"Table 4 compares the generative models of every modality ({[r.model for r in TABLE4_ROWS]}); "
                         f"found {row.model!r}")
    if spec.image_alone == "fill" and row.fill not in FILLS4:
        raise ValueError(f"{row.model} has one joint encoder: its Table 4 row needs a fill, one of {FILLS4}; "
                         f"found {row.fill!r}")
    if spec.image_alone == "own" and row.fill != OWN:
        raise ValueError(f"{row.model} conditions on any subset itself; found fill {row.fill!r}")
    spec.check_options(dict(row.options))


# --------------------------------------------------------------------------- runs
def run_spec4(dataset, split: int, model: str, preset: Preset, options: dict | None) -> dict:
    """Everything a Table 4 run depends on (its key hashes it)."""
    spec = {"format": RUN_FORMAT, "table": 4, "dataset": dataset_name(dataset), "split": split, "model": model,
            "model_config": asdict(preset.model), "train_config": asdict(preset.train)}
    if options:
        spec["options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(options.items())}
    if model != CVAE_MODEL and model_spec(model).version != 1:
        spec["model_version"] = model_spec(model).version
    return spec


def run_path4(dataset, split: int, model: str, preset: Preset, out_dir, options: dict | None) -> Path:
    tag = model.replace("+", "plus") + ("-" + "_".join(options["observed"]) if model == CVAE_MODEL else "")
    key = runcache.key_of(f"t4-{tag}-split{split}", run_spec4(dataset, split, model, preset, options))
    return Path(out_dir) / "runs" / dataset_name(dataset) / (key + ".json")


def build(model: str, modalities, config: ModelConfig, options: dict | None):
    """A Table 4 model: a declared one, or the conditional VAE (``options={"observed": [...]}``)."""
    options = dict(options or {})
    if model == CVAE_MODEL:
        return CVAE(modalities, config, observed=tuple(options["observed"]))
    return build_model(model, modalities, config, **options)


@dataclass
class Run4:
    """A finished Table 4 run: its record and where it lies (weights beside it)."""

    record: dict
    path: Path

    def model(self, device="cpu"):
        rec = self.record
        modalities = [Modality(*m) for m in rec["modalities"]]
        config = ModelConfig(**{**rec["model_config"], "hidden": tuple(rec["model_config"]["hidden"])})
        net = build(rec["model"], modalities, config, rec.get("options"))
        with runcache.reading(self.path.with_suffix(".pt")):
            net.load_state_dict(torch.load(self.path.with_suffix(".pt"), map_location=device, weights_only=True))
        return net.to(device).eval()


def quadrant_run(dataset: str, model: str, split: int, *, preset: Preset, out_dir, options: dict | None = None,
                 device=None, progress: bool = False, data=None) -> Run4:
    """The saved Table 4 run of ``model`` on ``split`` (all four quadrants); trains it if not saved."""
    path = run_path4(dataset, split, model, preset, out_dir, options)
    spec = run_spec4(dataset, split, model, preset, options)

    def make():
        split_data = load_split(dataset, split) if data is None else data
        dev = pick_device(device)
        torch.manual_seed(preset.train.seed)
        with run_threads_on(preset, dev):
            net = build(model, split_data.modalities, preset.model, options)
            t0 = time.perf_counter()
            history = train(net, split_data.train, preset.train, device=dev, progress=progress,
                            desc=f"{model} quadrants split {split}")
            seconds = time.perf_counter() - t0
        record = {**spec, "modalities": [[m.name, m.dim, m.likelihood] for m in split_data.modalities],
                  "n_params": sum(p.numel() for p in net.parameters()), "history": history,
                  "timing_s": {"train": seconds}, "device": str(dev)}
        if options:
            record["options"] = spec["options"]
        weights = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        return record, {"y_test": split_data.y_test}, weights

    return Run4(runcache.obtain(path, spec, make, ("model", "history")), path)


# --------------------------------------------------------------------------- seeing a subset
class SubsetView:
    """How a model sees a digit of which only the quadrants ``observed`` are given.

    ``fill=None``: the model's own posterior given them (PoE, MMVAE, MoPoE, MMVAE+); a fill
    (``"zeros"``, or ``"refill"``: start from zeros, then ``REFILL_ROUNDS`` times set
    every missing quadrant to the decoders' probabilities at the posterior mean) completes
    the input of a joint encoder (the MVAE). The missing quadrants are never read.
    """

    def __init__(self, model: VariationalModel, observed, fill: str | None = None, rounds: int = REFILL_ROUNDS):
        self.model, self.fill, self.rounds = model, fill, rounds
        self.observed = model.given(observed)
        self.missing = tuple(m for m in model.modalities if m not in self.observed)
        if fill is None and not model.can_condition_on(self.observed) and self.missing:
            raise ValueError(f"{type(model).__name__} has one joint encoder: give it a fill ({FILLS4})")
        if fill is not None and fill not in FILLS4:
            raise ValueError(f"unknown fill {fill!r}; expected one of {FILLS4}")

    def given(self, inputs) -> dict:
        return {m: inputs[m] for m in self.observed}

    def completed(self, inputs) -> dict:
        """The observed quadrants and the fill of the missing ones (computed once per batch:
        the code, the posterior and the completions of one batch share it)."""
        cached = getattr(self, "_completed", None)
        if cached is not None and cached[0] is inputs:
            return cached[1]
        value = self._complete(inputs)
        self._completed = (inputs, value)
        return value

    def _complete(self, inputs) -> dict:
        obs = self.given(inputs)
        like = next(iter(obs.values()))
        value = {m: torch.zeros(len(like), self.model.modalities[m].dim, device=like.device) for m in self.missing}
        if self.fill == "refill":
            with torch.no_grad():
                for _ in range(self.rounds):
                    z = self.model.posterior({**obs, **value}).mean
                    value = {m: decoder_mean(self.model, m, z) for m in self.missing}
        return {**obs, **value}

    def posterior(self, inputs):
        if self.fill is None or not self.missing:
            return self.model.posterior(self.given(inputs) if self.fill is None else inputs,
                                        given=self.observed if self.fill is None else None)
        return self.model.posterior(self.completed(inputs))

    def code(self, inputs, mode="sample", generator=None):
        if self.fill is None or not self.missing:
            return self.model.code(inputs, mode, generator, given=self.observed if self.fill is None else None)
        return self.model.code(self.completed(inputs), mode, generator)

    def generate(self, inputs, samples: int = 5, generator=None) -> dict:
        """The missing quadrants' pixel probabilities, averaged over ``samples`` draws of the code."""
        u = self.posterior(inputs).rsample(samples, generator)                 # (S, B, D)
        S, B, D = u.shape
        flat = u.reshape(S * B, D)
        return {m: decoder_mean(self.model, m, flat).reshape(S, B, -1).mean(0) for m in self.missing}


# --------------------------------------------------------------------------- scoring
def digit_classifier(split, out_dir=None) -> LogisticProbe:
    """Logistic regression on real whole training digits (784 binary pixels) to their digit:
    the coherence classifier, fitted once per split and process, and kept under
    ``out_dir/runs/<data set>/classifiers/`` when ``out_dir`` is given
    (:func:`mvae_lib.evaluate.kept_probe`), so that the worker processes of a table, and
    later commands, fit it once (7 s of CPU a split) rather than each."""
    digits = join_digit(split.train).reshape(len(split.y_train), -1)
    spec = {"kind": "coherence classifier", "dataset": split.name, "split": split.index, "n": len(split.y_train),
            "steps": CLASSIFIER_STEPS, "data": data_hash(digits, split.y_train)}
    # 100 L-BFGS steps: test accuracy .861 on split 0, against .862 after 500 (4 times the time)
    return kept_probe(out_dir, f"classifier-split{split.index}", spec,
                      lambda: fit_probe(digits, split.y_train, max_iter=CLASSIFIER_STEPS))


def _accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float((scores.argmax(1) == y.argmax(1)).mean())


def completed_digits(observed: dict, generated: dict) -> np.ndarray:
    """(n, 784) digits of the real observed quadrants and the generated missing ones."""
    parts = {**{m: np.asarray(v) for m, v in observed.items()}, **{m: np.asarray(v) for m, v in generated.items()}}
    return join_digit(parts).reshape(len(next(iter(parts.values()))), -1)


def _log_joints(model, z, data, observed) -> tuple:
    r""":math:`\log p(x, z)` and :math:`\log p(x_O, z)` from one pass of the decoders
    (what ``model.log_joint`` computes for each, without decoding twice)."""
    ll = model.log_likelihoods(z, data)                                     # {m: (k, B)}
    prior = log_standard_normal(z)
    return prior + sum(ll.values()), prior + sum(ll[m] for m in observed)


def _ll_scores(model: VariationalModel, data: dict, views: dict, K: int, seed: int) -> tuple[dict, dict]:
    """Per subset ``ll_cond``/``ess_cond``, and ``ll_joint``/``ess_joint`` of the model.

    For each subset O, ``K`` draws from the defensive mixture 0.45 q(.|all) + 0.45 q(.|O) +
    0.1 p give log p(x) and log p(x_O) on the same draws, and their difference. log p(x)
    itself gets ``K`` draws of its own from 0.9 q(.|all) + 0.1 p: the same construction
    whatever the number of modalities, so that it compares across data sets cut differently."""
    like = data[next(iter(data))]
    g = torch.Generator(device=like.device).manual_seed(seed)
    q_all = model.posterior(data)
    mu = q_all.mu if isinstance(q_all, Gaussian) else q_all.components[0].mu
    prior = Gaussian(torch.zeros_like(mu), torch.zeros_like(mu))
    out = {}
    for key, view in views.items():
        observed = view.observed
        r = Mixture([q_all, view.posterior(data), prior], (0.45, 0.45, 0.1))
        num, den = iw_log_weights(lambda z: _log_joints(model, z, data, observed), r, K, g)
        cond = (torch.logsumexp(num, 0) - torch.logsumexp(den, 0))
        out[key] = {"ll_cond": float(cond.mean()), "ess_cond": float(torch.minimum(ess(num), ess(den)).median())}
    num = iw_log_weights(lambda z: model.log_joint(z, data), Mixture([q_all, prior], (0.9, 0.1)), K, g)
    joint = torch.logsumexp(num, 0) - math.log(K)
    return out, {"ll_joint": float(joint.mean()), "ess_joint": float(ess(num).median())}


def _codes(fn, inputs, device, seed: int) -> np.ndarray:
    """``fn(batch, generator)`` over ``inputs`` in batches, one generator seeded once for the pass."""
    g = torch.Generator(device=device).manual_seed(seed)
    return collect(lambda b: fn(b, g), inputs, device)


@torch.no_grad()
def bound_of(model, inputs, device, seed: int, batch_size: int = 500) -> float:
    """The model's own training objective at full KL weight (``loss(...)["elbo"]``, one draw
    per example) averaged over ``inputs``: the MVAE's ELBO, MMVAE's stratified bound, MoPoE's
    average of the subsets' bounds, MMVAE+'s objective; for PoE, the bound of all the
    modalities (its objective is a sum of several bounds)."""
    torch.manual_seed(seed)
    total, n = 0.0, 0
    for b in _batches(inputs, device, batch_size):
        k = len(next(iter(b.values())))
        total += float(model.loss(b, kl_weight=1.0)["elbo"]) * k
        n += k
    return total / n


@torch.no_grad()
def evaluate_quadrants(model, split, fills, evaluation: EvalConfig4 = EvalConfig4(), seed: int = 1,
                       out_dir=None) -> dict:
    """Table 4's scores of one trained joint model on one split (module docstring):
    ``{fill or OWN: {subset key: {metric: value}}, "model": {"ll_joint": ..., "ess_joint": ...}}``
    (``out_dir``: where the coherence classifier is kept, :func:`digit_classifier`)."""
    device = next(model.parameters()).device
    model.eval()
    names = list(model.modalities)
    split = scored_examples(split, evaluation.examples)
    gen = lambda s: torch.Generator(device=device).manual_seed(s)  # noqa: E731
    z_train = _codes(lambda b, g: model.code(b, "sample", g), split.train, device, seed)
    probe = fit_probe(z_train, split.y_train)
    classifier = digit_classifier(split, out_dir)
    real = classifier.decision_function(join_digit(split.test).reshape(len(split.y_test), -1))
    out: dict = {}
    for fill in fills:
        scores = {}
        for s in subsets(names):
            view = SubsetView(model, s, fill if len(s) < len(names) else None)
            g_code, g_gen = gen(seed + 1), gen(seed + 2)
            codes, made = [], {m: [] for m in view.missing}
            for b in _batches(split.test, device):  # one pass: the code and the completions share a fill
                codes.append(view.code(b, "sample", g_code).cpu())
                if view.missing:
                    for m, v in view.generate(b, evaluation.samples, g_gen).items():
                        made[m].append(v.cpu())
            z = torch.cat(codes).numpy()
            entry = {"acc": _accuracy(probe.decision_function(z), split.y_test)}
            if view.missing:  # a probe fitted on training codes of the same subset
                z_fit = _codes(lambda b, g: view.code(b, "sample", g), split.train, device, seed + 10)
                entry["acc_fit"] = _accuracy(fit_probe(z_fit, split.y_train).decision_function(z), split.y_test)
                generated = {m: torch.cat(v).numpy() for m, v in made.items()}
                digits = completed_digits({m: split.test[m] for m in view.observed}, generated)
                entry["coherence"] = _accuracy(classifier.decision_function(digits), split.y_test)
            else:
                entry["acc_fit"] = entry["acc"]
                entry["coherence"] = _accuracy(real, split.y_test)
            scores[key_of(s)] = entry
        out[OWN if fill is None else fill] = scores
    data = _ll_data(split, evaluation.n_ll, device)
    per_subset, joint = _ll_scores(model, data, _ll_views(model), evaluation.K, seed + 4)
    joint["bound"] = bound_of(model, split.test, device, seed + 5)
    for scores in out.values():
        for key, v in per_subset.items():
            scores[key].update(v)
    joint_code = getattr(model, "joint_code", None)
    if joint_code is not None:  # a mixture: one code that reads all four (mvae_lib.MMVAE.joint_code)
        z_fit = _codes(lambda b, g: joint_code(b, "sample", g), split.train, device, seed + 11)
        z = _codes(lambda b, g: joint_code(b, "sample", g), split.test, device, seed + 12)
        joint["acc_joint"] = _accuracy(fit_probe(z_fit, split.y_train).decision_function(z), split.y_test)
    else:
        joint["acc_joint"] = out[next(iter(out))][key_of(names)]["acc"]
    out["model"] = joint
    return out


def _batches(inputs, device, size: int = 500):
    n = len(next(iter(inputs.values())))
    for start in range(0, n, size):
        yield {m: torch.as_tensor(a[start:start + size], device=device) for m, a in inputs.items()}


@torch.no_grad()
def evaluate_cvae(cvae: CVAE, split, evaluation: EvalConfig4 = EvalConfig4(), seed: int = 1, out_dir=None) -> dict:
    """The conditional VAE's scores on its own configuration: ``{subset key: {coherence,
    ll_cond, ess_cond}}`` (no probe: it has no code of the observed quadrants alone)."""
    device = next(cvae.parameters()).device
    split = scored_examples(split, evaluation.examples)
    g = torch.Generator(device=device).manual_seed(seed + 2)
    made = {m: [] for m in cvae.targets}
    for b in _batches(split.test, device):
        for m, v in cvae.complete(b, evaluation.samples, g).items():
            made[m].append(v.cpu())
    generated = {m: torch.cat(v).numpy() for m, v in made.items()}
    digits = completed_digits({m: split.test[m] for m in cvae.observed}, generated)
    coherence = _accuracy(digit_classifier(split, out_dir).decision_function(digits), split.y_test)
    data = _ll_data(split, evaluation.n_ll, device)
    ll, e = cvae.conditional_log_likelihood(data, evaluation.K, torch.Generator(device=device).manual_seed(seed + 4))
    return {key_of(cvae.observed): {"coherence": coherence, "ll_cond": float(ll.mean()),
                                    "ess_cond": float(e.median())}}


#: Version of the scoring: part of the key of saved scores (2: log p(x) from draws of its own,
#: codes drawn with one generator per pass, the model's own bound added).
SCORES_VERSION = 2


def score_spec4(evaluation: EvalConfig4) -> dict:
    return {**asdict(evaluation), "version": SCORES_VERSION}


def score_quadrant_run(dataset: str, model: str, split: int, *, preset: Preset, out_dir, fills,
                       options: dict | None = None, evaluation: EvalConfig4 = EvalConfig4(), device=None,
                       progress: bool = False) -> dict:
    """Table 4's scores of one run (trained first if not saved), kept beside it."""
    run = quadrant_run(dataset, model, split, preset=preset, out_dir=out_dir, options=options, device=device,
                       progress=progress)
    spec = score_spec4(evaluation)
    saved = runcache.load_scores(run.path, "table4", spec)
    keys = ["cvae"] if model == CVAE_MODEL else [OWN if f is None else f for f in fills]
    if not all(k in saved for k in keys):
        dev = pick_device(device)
        with run_threads_on(preset, dev):
            net, data = run.model(dev), load_split(dataset, split)
            if model == CVAE_MODEL:
                saved = {"cvae": evaluate_cvae(net, data, evaluation, out_dir=out_dir)}
            else:
                saved = evaluate_quadrants(net, data, fills, evaluation, out_dir=out_dir)
        runcache.save_scores(run.path, "table4", spec, saved)
    saved["train_s"] = run.record["timing_s"]["train"]
    saved["history"] = run.record["history"]
    return saved


def run_table4(rows=TABLE4_ROWS, dataset: str = DATASET, splits: int | list[int] = 5, *,
               preset: str | Preset = "small", epochs: int | None = TABLE4_EPOCHS, out_dir="mvae_runs",
               device=None, workers: int | None = None, evaluation: EvalConfig4 = EvalConfig4(),
               cvae: bool = True, progress: bool = True) -> Results:
    """Train (or load) and score every row of Table 4, and the conditional VAE of each of
    Sohn et al.'s configurations, on every split; tidy results (``table`` 4).

    Tidy rows: ``model`` is the row's label (or ``"CVAE"``); ``setting`` is the number of
    observed quadrants ``k`` (scores averaged over the subsets of that size) or a subset's
    key (``"tl+bl"``: that subset alone); the model's own scores (``ll_joint``, ``ess_joint``,
    ``acc_joint``) have ``setting`` M, the number of modalities (4 for the quadrants).
    """
    splits = split_list(splits)
    for row in rows:
        check_row4(row)
    preset = resolve_preset(preset, epochs)
    check_available(dataset, splits)
    fills = fills_by_model(rows, OWN)
    devices = parse_devices(device)
    dev = str(pick_device(devices[0]))
    jobs = {(k, m, o): dict(dataset=dataset, model=m, split=k, preset=preset, out_dir=out_dir, fills=f,
                            options=dict(o) or None, evaluation=evaluation, device=dev)
            for k in splits for (m, o), f in fills.items()}
    if cvae:
        jobs.update({(k, CVAE_MODEL, c): dict(dataset=dataset, model=CVAE_MODEL, split=k, preset=preset,
                                              out_dir=out_dir, fills=[], options={"observed": list(c)},
                                              evaluation=evaluation, device=dev)
                     for k in splits for c in SOHN_CONFIGS})
    workers = default_workers(dev, preset) if workers is None else workers
    # the longest jobs first, so that two workers end together
    order = sorted(jobs, key=lambda j: (j[1] == CVAE_MODEL, j[1] not in ("MMVAE", "MMVAE+", "PoE")))
    start = time.perf_counter()
    scores = dict(run_jobs(score_quadrant_run, {j: jobs[j] for j in order}, workers=workers, progress=progress,
                           desc="table 4"))
    tidy = []
    train_s = 0.0

    def add(model, setting, k, metric, value, **extra):
        tidy.append({"dataset": dataset_name(dataset), "table": 4, "model": model, "setting": setting, "split": k,
                     "metric": metric, "value": value, **extra})

    for (k, m, o), saved in scores.items():
        train_s += saved["train_s"]
        if m == CVAE_MODEL:
            for key, v in saved["cvae"].items():
                for metric, value in v.items():
                    add(CVAE_MODEL, key, k, metric, value)
            continue
        for row in rows:
            if (row.model, row.options) != (m, o):
                continue
            per = saved[row.fill]
            for key, v in per.items():
                for metric, value in v.items():
                    add(row.label, key, k, metric, value)
            M = max(size_of(key) for key in per)  # modalities of the data set
            for size in range(1, M + 1):
                keys = [key for key in per if size_of(key) == size]
                for metric in ("acc", "acc_fit", "coherence", "ll_cond", "ess_cond"):
                    values = [per[key][metric] for key in keys if metric in per[key]]
                    if values:
                        add(row.label, size, k, metric, float(np.mean(values)))
            for metric, value in saved["model"].items():
                add(row.label, M, k, metric, value)
    return Results(tidy, dataset_name(dataset), {"train": train_s, "wall": time.perf_counter() - start})


# --------------------------------------------------------------------------- settling
#: The numbers of draws at which :func:`settle_quadrants` re-estimates Table 4's likelihoods.
SETTLING_K4 = (50, 200, 800)


@torch.no_grad()
def settle_quadrants(model, split, Ks=SETTLING_K4, n_ll: int = 50, seed: int = 1, examples: int | None = None) -> dict:
    """Table 4's likelihood estimates of one trained model (joint or :class:`~mvae_lib.models.CVAE`)
    redone with each number of draws in ``Ks``, on the ``n_ll`` examples Table 4 uses (of
    :func:`scored_examples` ``(split, examples)``, as :class:`EvalConfig4` says), with Table
    4's seed, so that at Table 4's ``K`` the estimate is Table 4's own.

    Returns ``{"K": [...], "ll_joint": [...], "ess_joint": [...], "ll_cond": {k: [...]},
    "ess_cond": {k: [...]}, "ll_subset": {subset key: [...]}}``, one entry per ``K``: for a
    joint model ``ll_cond`` of ``k`` observed quadrants is the mean over the subsets of that
    size (as in Table 4), ``ll_subset`` each subset's own, and ``ess_*`` the median effective
    sample size; for the CVAE only its own configuration, and no ``ll_joint``. How far an estimate still moves from one ``K`` to the next is
    what "settled" means here: an importance-weighted ``log p(x)`` rises towards the truth
    in expectation as ``K`` grows; the conditional estimate of a joint model is a difference
    of two such estimates and can move either way."""
    device = next(model.parameters()).device
    Ks = [int(K) for K in Ks]
    if not Ks or min(Ks) < 1 or Ks != sorted(set(Ks)):
        raise ValueError(f"Ks: expected increasing numbers of draws >= 1, found {Ks}")
    data = _ll_data(scored_examples(split, examples), n_ll, device)
    out: dict = {"K": Ks, "ll_joint": [], "ess_joint": [], "ll_cond": {}, "ess_cond": {}, "ll_subset": {}}
    if isinstance(model, CVAE):
        k = len(model.observed)
        for K in Ks:
            ll, e = model.conditional_log_likelihood(data, K, torch.Generator(device=device).manual_seed(seed + 4))
            out["ll_cond"].setdefault(k, []).append(float(ll.mean()))
            out["ess_cond"].setdefault(k, []).append(float(e.median()))
            out["ll_subset"].setdefault(key_of(model.observed), []).append(float(ll.mean()))
        del out["ll_joint"], out["ess_joint"]
        return out
    model.eval()
    views = _ll_views(model)
    for K in Ks:
        per_subset, joint = _ll_scores(model, data, views, K, seed + 4)
        out["ll_joint"].append(joint["ll_joint"])
        out["ess_joint"].append(joint["ess_joint"])
        for key, v in per_subset.items():
            out["ll_subset"].setdefault(key, []).append(v["ll_cond"])
        for size in range(1, len(model.modalities)):
            keys = [key for key in per_subset if size_of(key) == size]
            for metric in ("ll_cond", "ess_cond"):
                out[metric].setdefault(size, []).append(float(np.mean([per_subset[key][metric] for key in keys])))
    return out


def settle_quadrant_run(dataset: str, model: str, split: int, *, preset: Preset, out_dir, options: dict | None = None,
                        Ks=SETTLING_K4, n_ll: int = 50, examples: int | None = None, device=None) -> dict:
    """:func:`settle_quadrants` of one saved Table 4 run (trained first if not saved), kept beside it."""
    run = quadrant_run(dataset, model, split, preset=preset, out_dir=out_dir, options=options, device=device)
    spec = {"Ks": [int(K) for K in Ks], "n_ll": n_ll, "examples": examples, "version": SCORES_VERSION}
    saved = runcache.load_scores(run.path, "settle4", spec)
    if not saved:
        dev = pick_device(device)
        with run_threads_on(preset, dev):
            saved = settle_quadrants(run.model(dev), load_split(dataset, split), Ks, n_ll, examples=examples)
        saved = _json_keys(saved)
        runcache.save_scores(run.path, "settle4", spec, saved)
    return saved


def _json_keys(settled: dict) -> dict:
    """``settled`` with the integer keys of ``ll_cond``/``ess_cond`` as strings (what JSON keeps)."""
    return {key: ({str(k): v for k, v in value.items()} if isinstance(value, dict) else value)
            for key, value in settled.items()}


# --------------------------------------------------------------------------- verdicts
#: The columns Table 4's verdicts judge: (metric, setting) as in the tidy rows.
VERDICT_COLUMNS4 = (("acc", 1), ("acc", 2), ("acc", 3), ("acc", 4), ("acc_joint", 4), ("acc_fit", 1),
                    ("acc_fit", 3), ("coherence", 1), ("coherence", 2), ("coherence", 3), ("ll_cond", 1),
                    ("ll_cond", 2), ("ll_cond", 3), ("ll_joint", 4), ("bound", 4))
#: Columns that belong to the model, not to how it sees a subset (the fill changes nothing).
MODEL_COLUMNS4 = ("acc_joint", "ll_cond", "ll_joint", "bound")
REFERENCE4 = Row4("MVAE", "refill")  #: the paper's model with its better fill at four modalities


def table4_verdicts(results: Results, rows=TABLE4_ROWS, reference: Row4 = REFERENCE4, columns=VERDICT_COLUMNS4,
                    epochs: int | None = None):
    """Every row against ``reference`` in every column of ``columns``: paired per-split
    t-tests (:func:`mvae_lib.stats.compare`), Holm-corrected together as one family
    (:func:`mvae_lib.stats.adjust`). A row of the reference's model is not judged in a
    column of the model's own (``MODEL_COLUMNS4``): the fill changes nothing there."""
    from .stats import adjust, compare

    M = max(k for _, k in columns)
    out = []
    for row in rows:
        for metric, k in columns:
            if row == reference or (row.model == reference.model and (metric in MODEL_COLUMNS4 or k == M)):
                continue  # the same model: the fill changes nothing there
            if metric == "acc_joint" and not hasattr(model_spec(row.model).cls, "joint_code"):
                continue  # for a model without joint_code the column repeats acc at k = M
            out.append(compare(results, (row.label, k), (reference.label, k), epochs, metric))
    return adjust(out)


def sohn_verdicts(results: Results, rows=TABLE4_ROWS, metrics=("ll_cond", "coherence"), epochs: int | None = None):
    """The conditional VAE against each joint model on each of Sohn et al.'s configurations
    (``CVAE - model``, paired per split), Holm-corrected together."""
    from .stats import adjust, compare

    labels = [r.label for r in rows if r.model != REFERENCE4.model or r == REFERENCE4]  # one MVAE row
    return adjust([compare(results, (CVAE_MODEL, key_of(c)), (label, key_of(c)), epochs, metric)
                   for metric in metrics for c in SOHN_CONFIGS for label in labels])


#: The scores of a model given every modality, defined alike at any number of modalities M.
GAP_METRICS = {"bound": "its own objective, nats", "ll_joint": "log p(x), nats",
               "acc_joint": "probe, one code of all"}
GAP_MODELS = tuple(r.label for r in TABLE4_ROWS if r.model != "MVAE")  #: every row but the MVAE's
MIXTURES4 = tuple(r.label for r in TABLE4_ROWS if r.model in ("MMVAE", "MoPoE", "MMVAE+"))  #: the mixtures


def gap_growth(by_m: dict, models=GAP_MODELS, reference: Row4 = REFERENCE4, metrics=tuple(GAP_METRICS),
               epochs: int | None = None):
    """How each model's gap to ``reference`` changes with the number of modalities.

    ``by_m`` maps M to the Table 4 results of the same digits cut into M modalities (e.g.
    ``{2: mnist-binary-halves, 4: mnist-quadrants}``, same splits). The gap of a model at M
    is its score minus the reference's on the same split, in a score of
    ``GAP_METRICS`` (read at ``setting`` M); its growth is the gap at the larger M minus
    the gap at the smaller, on the same split. Returns ``(gaps, growth)``: ``{(model,
    metric, M): {split: gap}}`` and one :class:`~mvae_lib.stats.Comparison` of the growth per
    model and metric (``a = (model, M_large)``, ``b = (model, M_small)``), Holm-corrected
    together (:func:`mvae_lib.stats.adjust`)."""
    from .stats import Comparison, adjust

    small, large = sorted(by_m)[:2]

    def values(M, label, metric):
        return {r["split"]: r["value"] for r in by_m[M].rows
                if (r["model"], r["setting"], r["metric"]) == (label, M, metric)}

    gaps = {}
    for M in (small, large):
        for model in models:
            for metric in metrics:
                a, b = values(M, model, metric), values(M, reference.label, metric)
                gaps[(model, metric, M)] = {k: a[k] - b[k] for k in sorted(set(a) & set(b))}
    growth = []
    for model in models:
        for metric in metrics:
            g_s, g_l = gaps[(model, metric, small)], gaps[(model, metric, large)]
            shared = sorted(set(g_s) & set(g_l))
            growth.append(Comparison((model, large), (model, small), tuple(g_l[k] - g_s[k] for k in shared),
                                     epochs, metric))
    return gaps, adjust(growth)


# --------------------------------------------------------------------------- the settling screen
@dataclass
class Screen:
    """The likelihood verdicts that name a side, screened against how far their estimates
    moved with more draws (:func:`screen_verdicts`).

    Attributes
    ----------
    passed, failed : list of str
        The verdicts (``"PoE, log p(x)"``, ``"CVAE against PoE, bl"``...) whose mean gap is
        larger than, or no larger than, what their two estimates moved together.
    movement : list of float
        That movement for each verdict judged (nats on the settling split).
    """

    passed: list
    failed: list
    movement: list

    @property
    def judged(self) -> int:
        return len(self.passed) + len(self.failed)


def settled_rows(rows=TABLE4_ROWS, reference: Row4 = REFERENCE4) -> list[Row4]:
    """One row per model of ``rows`` (its fills share the model's likelihoods): the
    reference's where it is one of them, else the model's first. The rows whose likelihoods
    ``Chapter.settling4`` of ``mvae_lib.book`` settles."""
    one: dict[tuple, Row4] = {}
    for r in rows:
        if (r.model, r.options) not in one or r == reference:
            one[(r.model, r.options)] = r
    return list(one.values())


def settled_label(label: str, settled: dict, rows=TABLE4_ROWS, reference: Row4 = REFERENCE4) -> str:
    """The key of ``settled`` (``Chapter.settling4`` of ``mvae_lib.book``) that holds the
    likelihoods of Table 4's row ``label``: the label of its model's :func:`settled_rows` row."""
    row = next(r for r in rows if r.label == label)
    found = next(r.label for r in settled_rows(rows, reference) if (r.model, r.options) == (row.model, row.options))
    if found not in settled:
        raise KeyError(f"no settled likelihoods for {label!r} (expected them under {found!r})")
    return found


def moved(values, K: int, Ks) -> float:
    """How far an estimate moved from ``K`` draws to the most (``values`` at each of ``Ks``)."""
    return values[-1] - values[list(Ks).index(K)]


def screen_verdicts(verdicts, cvae_verdicts, settled: dict, K: int, rows=TABLE4_ROWS,
                    reference: Row4 = REFERENCE4) -> Screen:
    """Screen every likelihood verdict that names a side (``"above"``/``"below"``) of
    :func:`table4_verdicts` and :func:`sohn_verdicts` against ``settled``, the same
    estimates on one split at ``K`` (Table 4's) and more draws.

    A verdict fails when its mean gap is no larger than the sum of how far its two
    estimates moved from ``K`` to the most draws, since more draws could then change its
    sign. Passing proves nothing: for :math:`\\log p(x)` the expected gain bounds what the
    estimate lacks from below and one measured gain only estimates it; a conditional
    estimate is a difference of two and can move either way.
    """
    Ks = next(iter(settled.values()))["K"]
    ref = settled_label(reference.label, settled, rows, reference)
    passed, failed, movement = [], [], []
    for c in verdicts:
        if not c.metric.startswith("ll_") or c.verdict not in ("above", "below"):
            continue
        label, k = c.a
        own = settled[settled_label(label, settled, rows, reference)]
        if c.metric == "ll_joint":
            move = abs(moved(own["ll_joint"], K, Ks)) + abs(moved(settled[ref]["ll_joint"], K, Ks))
            name = "log p(x)"
        else:
            move = abs(moved(own["ll_cond"][str(k)], K, Ks)) + abs(moved(settled[ref]["ll_cond"][str(k)], K, Ks))
            name = f"log p(rest | {k})"
        movement.append(move)
        (passed if abs(c.mean) > move else failed).append(f"{label}, {name}")
    for c in cvae_verdicts:  # the CVAE against each joint model, on its configuration
        if c.metric != "ll_cond" or c.verdict not in ("above", "below"):
            continue
        label, key = c.b
        cvae = settled[f"{CVAE_MODEL} ({key})"]["ll_subset"][key]
        joint = settled[settled_label(label, settled, rows, reference)]["ll_subset"][key]
        move = abs(moved(cvae, K, Ks)) + abs(moved(joint, K, Ks))
        movement.append(move)
        (passed if abs(c.mean) > move else failed).append(f"{CVAE_MODEL} against {label}, {key}")
    return Screen(passed, failed, movement)


def likelihood_tail(settled: dict) -> tuple[list, list] | None:
    r"""For the joint models' :math:`\log p(x)` settled at three numbers of draws, each
    quadrupling (say): the ratio :math:`r` of the second gain to the first, and, were the
    gain to keep shrinking by :math:`r` per step (a geometric tail), what the estimate at
    the most draws would still lack as a multiple of its last gain, :math:`r / (1 - r)`.
    None unless every model has three estimates rising by shrinking steps."""
    lls = [v["ll_joint"] for v in settled.values() if "ll_joint" in v]
    if not lls or any(len(ll) != 3 or not ll[2] > ll[1] > ll[0] for ll in lls):
        return None
    ratios = [(ll[2] - ll[1]) / (ll[1] - ll[0]) for ll in lls]
    if any(r >= 1 for r in ratios):
        return None
    return ratios, [r / (1 - r) for r in ratios]
