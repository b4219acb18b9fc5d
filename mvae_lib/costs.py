"""What each model's training costs and estimates: parameters, training time, draws of z per
step and the estimator choices, read off the saved runs and the models (the fairness box of
the chapter "Table 3")."""
from __future__ import annotations

from .runs import Run

def training_facts(model) -> dict:
    """What one training step of ``model`` costs and estimates, read off the model itself:
    the draws of z per example and step, and the estimator choices (for the chapter's
    fairness box). Every model here has Gaussian encoders (experts) and decoders of the
    paper, reparameterised gradients, and the same networks per encoder and decoder."""
    from .models import JMVAE, MMVAE, MVAE, MMVAEPlus, MoPoE, PoEMVAE
    from .models.paper import MAE

    M = len(model.modalities)
    if isinstance(model, MMVAEPlus):
        return {"samples": model.K * M, "objective": (
            f"MMVAE's stratified bound with K = {model.K} draws from each of the {M} experts of a shared code, "
            f"a private code of {model.private} dimensions per modality, the others' private codes drawn from "
            "a learned auxiliary distribution; Gaussian (Palumbo et al.: Laplace)")}
    if isinstance(model, MMVAE):
        return {"samples": model.K * M, "objective": (
            f"stratified importance-weighted bound: K = {model.K} draws from each of the {M} experts; "
            "plain reparameterised gradient (no DReG); Gaussian experts (Shi et al.: Laplace)")}
    if isinstance(model, MoPoE):
        n = len(model.subsets)
        if model.estimator == "subsample":
            return {"samples": 1, "objective": (
                f"average of the ELBOs of all {n} non-empty subsets, estimated as the authors' code does: "
                "one subset per example, one draw, every KL; products without a prior expert; Gaussian experts")}
        return {"samples": n, "objective": (
            f"average of the ELBOs of all {n} non-empty subsets, one draw each; products without "
            "a prior expert; Gaussian experts")}
    if isinstance(model, PoEMVAE):
        n = M + 1 + (model.n_subsets if model.middle else 0)
        return {"samples": n, "objective": (
            f"sum of {n} ELBOs (all the modalities, each alone"
            + (f", {model.n_subsets} random subsets" if model.middle else "")
            + "), one draw each; product with the prior as an expert; Gaussian experts")}
    if isinstance(model, JMVAE):
        return {"samples": 1, "objective": (
            f"the MVAE's ELBO (one draw) minus alpha = {model.alpha:g} times the KLs from the joint "
            "encoder to each unimodal one (closed form); a joint and a unimodal encoder per modality")}
    if isinstance(model, MVAE):
        return {"samples": 1, "objective": "ELBO with one draw (paper eq. 7, L = 1); one joint encoder"}
    if isinstance(model, MAE):
        return {"samples": 0, "objective": "reconstruction loss of a deterministic code; one joint encoder"}
    return {"samples": None, "objective": f"see the docstring of {type(model).__name__}"}


def fairness(runs: dict[str, list[Run]]) -> list[dict]:
    """Per model (``{name: its saved runs, one per split}``): its parameters (the same on every
    split), the mean and standard deviation over splits of its training time in seconds
    (``record["timing_s"]["train"]``: the wall clock of the training loop), and
    :func:`training_facts`."""
    import statistics

    out = []
    for name, model_runs in runs.items():
        params = {r.record["n_params"] for r in model_runs}
        if len(params) != 1:
            raise ValueError(f"{name}'s runs differ in size ({sorted(params)} parameters): not one model")
        train = [r.record["timing_s"]["train"] for r in model_runs]
        out.append({"model": name, "n_params": params.pop(), "train_s": statistics.fmean(train),
                    "train_s_std": statistics.stdev(train) if len(train) > 1 else 0.0,
                    "splits": len(train), **training_facts(model_runs[0].model("cpu"))})
    return out
