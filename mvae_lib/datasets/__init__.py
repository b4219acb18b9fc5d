"""Data sets as (x, w, y) triples, each declared once in a registry.

- :mod:`~mvae_lib.datasets.core`     :class:`Split`, :class:`DatasetSpec`, the registry :data:`DATASETS`,
  :func:`load_split`, :func:`check_available`
- :mod:`~mvae_lib.datasets.mnist`    the bundled MNIST halves (the default) and quadrants (Part IV)
- :mod:`~mvae_lib.datasets.flickr`   MIR Flickr, the paper's data (the release's loader)
- :mod:`~mvae_lib.datasets.arrays`   your own arrays: :func:`from_arrays`, :func:`save_npz`, the ``.npz`` layout
- :mod:`~mvae_lib.datasets.splits`   drawing and checking the splits of your own arrays

Every data set gives the paper's structure: ``x`` real-valued (standardised with training
statistics only; Gaussian decoder), ``w`` binary (Bernoulli decoder), ``y`` a 0/1 label
matrix used only by the evaluation probe. The book's chapter "Data" shows them.
"""
from .core import (DATASETS, DataError, DatasetSpec, Split, check_available, dataset_name, get_dataset,
                   load_split, make_split, register_dataset, standardize)
from .mnist import (BINARY_THRESHOLD, MNIST_HALVES_SPLITS, MNIST_QUADRANTS_SPLITS, QUADRANTS, join_digit, join_quadrants,
                    mnist_binary_halves, mnist_digits, mnist_halves, mnist_quadrants, quadrant_pixels)
from .flickr import (MIRFLICKR_DIMS, MIRFLICKR_ENV, MIRFLICKR_SPLITS, MIRFLICKR_URL, check_release, mirflickr,
                     mirflickr_root)
from .arrays import ArrayData, from_arrays, npz_dataset, read_npz, save_npz

__all__ = ["DATASETS", "DataError", "DatasetSpec", "Split", "check_available", "dataset_name", "get_dataset",
           "load_split", "make_split", "register_dataset", "standardize", "MNIST_HALVES_SPLITS", "mnist_digits", "mnist_halves",
           "BINARY_THRESHOLD", "MNIST_QUADRANTS_SPLITS", "QUADRANTS", "join_digit", "join_quadrants", "mnist_binary_halves", "mnist_quadrants", "quadrant_pixels",
           "MIRFLICKR_DIMS", "MIRFLICKR_ENV", "MIRFLICKR_SPLITS", "MIRFLICKR_URL", "check_release", "mirflickr",
           "mirflickr_root", "ArrayData", "from_arrays", "npz_dataset", "read_npz", "save_npz"]
