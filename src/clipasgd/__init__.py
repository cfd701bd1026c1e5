"""clipasgd: simulate asynchronous SGD with clipping and verify the paper's claims.

Erickson & Johansson, *Clipping Makes Distributed and Federated Asynchronous SGD
Robust to Stragglers*, ICML 2026.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clipasgd")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
