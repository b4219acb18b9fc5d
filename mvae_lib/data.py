"""The data sets' names as before the registry: kept so that ``from mvae_lib.data import ...``
in scripts and chapters keeps working. The code lives in :mod:`mvae_lib.datasets`."""
from .datasets import *  # noqa: F401,F403
from .datasets import __all__  # noqa: F401
from .datasets.mnist import _mnist_5k  # noqa: F401  (the raw digits, shown by the chapter "Data")
