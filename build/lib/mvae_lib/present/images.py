"""Pictures of the MNIST halves: pixels from standardised features, digits from their halves.

Also the figures of the explorers (:mod:`mvae_lib.present.explore`), one digit per panel.
"""
from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .explore import DigitViews, SweepViews

HALF = (28, 14)  # an MNIST half: 28 rows, 14 columns


def to_pixels(x: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    """Standardised image features back to [0, 1] for display: per pixel, the training range maps to [0, 1].

    ``x`` is :math:`(p - m)/s` per pixel (:func:`mvae_lib.data.standardize`), an increasing
    affine map of the raw pixel :math:`p`, so :math:`(x - \\min x_{train}) / (\\max x_{train} -
    \\min x_{train}) = (p - \\min p) / (\\max p - \\min p)`: exactly :math:`p` for a pixel that is
    blank (0) in some training digit and fully inked (1) in another, as most pixels a stroke
    reaches are; pixels that stay faint in training are stretched. Values outside the training
    range are clipped; a constant pixel shows as 0. On split 0 of the bundled data it gives back
    the raw test pixels to a mean absolute error of 2e-5. ``x``: (..., D); ``x_train``: (n, D).
    """
    lo, hi = x_train.min(0), x_train.max(0)
    span = np.where(hi - lo > 1e-8, hi - lo, 1.0)
    return np.clip((x - lo) / span, 0.0, 1.0)


def join_halves(left, right) -> np.ndarray:
    """Digits from their halves: ``left`` and ``right`` of (n, 392), (n, 28, 14) or one (28, 14)
    each, with values in [0, 1], give (n, 28, 28) images, the left half on the left."""
    left = np.asarray(left, dtype=float).reshape(-1, *HALF)  # (n, 28, 14)
    right = np.asarray(right, dtype=float).reshape(-1, *HALF)
    return np.concatenate([left, right], axis=2)  # (n, 28, 28)


def halves_strip(x, w, x_train, axis: int = 1) -> np.ndarray:
    """One image of the digits whose standardised left halves are ``x`` (n, 392) and right halves
    ``w`` (n, 392) in [0, 1]: side by side (``axis=1``, (28, 28 n)) or stacked (``axis=0``,
    (28 n, 28)). ``x`` is shown as pixels by :func:`to_pixels` with the training halves ``x_train``."""
    return np.concatenate(list(join_halves(to_pixels(np.asarray(x), np.asarray(x_train)), w)), axis=axis)


def png_data_uri(image: np.ndarray) -> str:
    """A grey-scale image with values in [0, 1] as a ``data:`` URI of a PNG (for tooltips:
    the page needs no file and makes no request)."""
    from PIL import Image

    pixels = (np.clip(np.asarray(image, dtype=float), 0, 1) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def digit_thumbnails(x: np.ndarray, w: np.ndarray, x_train: np.ndarray) -> list[str]:
    """Both halves of each digit as one 28 x 28 PNG: ``x`` (n, 392) standardised left halves
    (shown as pixels with :func:`to_pixels` and the training halves ``x_train``), ``w`` (n, 392)
    right halves in [0, 1]."""
    return [png_data_uri(digit) for digit in join_halves(to_pixels(np.asarray(x), np.asarray(x_train)), w)]


def show_halves(ax, left: np.ndarray, right: np.ndarray, title: str) -> None:
    """Draw a digit from its halves (each (28, 14) or 392 values in [0, 1]) on ``ax``, a red line between them."""
    ax.imshow(join_halves(left, right)[0], cmap="gray", vmin=0, vmax=1)  # (28, 28)
    ax.axvline(HALF[1] - 0.5, color="tab:red", lw=0.8)  # where the left half ends
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def render_digit_views(views: DigitViews):
    """One column per model and fill, the real digit first: on top the reconstruction from
    x and w, below the real left half beside the right half generated from x alone, with its
    scores under it (log-likelihood of the true right half in nats per pixel, mean absolute
    error, the digit a classifier reads in it). A Figure."""
    import matplotlib.pyplot as plt

    n = len(views.rows) + 1
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 3.4), squeeze=False)
    show_halves(axes[0, 0], views.left, views.right, f"test {views.index}\n(a {views.label})")
    show_halves(axes[1, 0], views.left, np.zeros(HALF), "")
    axes[0, 0].set_ylabel("from x and w", fontsize=8)
    axes[1, 0].set_ylabel("from x alone", fontsize=8)
    axes[1, 0].set_xlabel("what the models\nsee without w", fontsize=7)
    for k, v in enumerate(views.rows, start=1):
        show_halves(axes[0, k], v.x_hat, v.w_hat, v.row.label.replace(", ", ",\n") if "," in v.row.label
                    else v.row.label + "\n")
        show_halves(axes[1, k], views.left, v.generated, "")
        reads = "" if v.predicted is None else f"\nreads {v.predicted}"
        axes[1, k].set_xlabel(f"{v.log_lik:.3f} nats/px\n|err| {v.abs_error:.3f}{reads}", fontsize=7)
    fig.tight_layout()
    return fig


def render_sweep(views: SweepViews, value: float):
    """The real digits (top) and the right halves the run with ``option = value`` generates beside
    the real left halves (bottom), its scores in the title. A Figure."""
    import matplotlib.pyplot as plt

    if value not in views.by_value:
        raise ValueError(f"{views.option} = {value!r} is not in this sweep; its values are {list(views.by_value)}")
    v = views.by_value[value]
    if not v.saved:
        raise ValueError(f"no saved run for {views.model} with {views.option} = {value:g} ({v.path.name}); train "
                         f"it with mvae_lib.get_run(..., options={{{views.option!r}: {value!r}}}) or the "
                         "explorer's 'train this run' button")
    n = len(views.indices)
    fig, axes = plt.subplots(2, n, figsize=(0.5 + 1.2 * n, 3.3), squeeze=False)
    for k in range(n):
        show_halves(axes[0, k], views.left[k], views.right[k], f"test {views.indices[k]}")
        show_halves(axes[1, k], views.left[k], v.generated[k], "from x")
    title = (f"{views.model}, {views.option} = {value:g}: log p(w | x) {v.log_lik:.3f} nats/pixel "
             "on these digits")
    if v.scores:
        title += "\nTable 3, whole test set: " + ", ".join(
            f"{name} {v.scores[key]:.3f}" for key, name in (("lrap_image", "LRAP x only"), ("coherence", "coherence"))
            if key in v.scores)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
