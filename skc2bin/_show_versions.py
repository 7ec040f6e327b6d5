"""Versions of skc2bin, its dependencies and the machine, for bug reports.

Modelled on :func:`sklearn.show_versions`.
"""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

__all__ = ["show_versions"]

#: Distributions whose installed versions are reported (PyPI names).
_DEPENDENCIES = (
    "torch",
    "torchvision",
    "scikit-learn",
    "skorch",
    "numpy",
    "scipy",
    "joblib",
    "safetensors",
    "matplotlib",
    "pip",
)


def _get_sys_info():
    """Python and operating system.

    Returns
    -------
    sys_info : dict of str to str
    """
    return {
        "python": sys.version.replace("\n", " "),
        "executable": sys.executable,
        "machine": platform.platform(),
    }


def _get_deps_info():
    """Installed versions of skc2bin and its main dependencies.

    Read from the package metadata, without importing the packages (as
    :func:`sklearn.show_versions` does).

    Returns
    -------
    deps_info : dict of str to str or None
        None for a distribution that is not installed.
    """
    from . import __version__

    deps_info = {"skc2bin": __version__}
    for name in _DEPENDENCIES:
        try:
            deps_info[name] = version(name)
        except PackageNotFoundError:
            deps_info[name] = None
    return deps_info


def _get_torch_info():
    """What torch sees: CUDA build and devices, and CPU threads.

    Returns
    -------
    torch_info : dict of str to str
    """
    import torch

    available = torch.cuda.is_available()
    info = {
        "CUDA available": str(available),
        "CUDA version": str(torch.version.cuda),
        "cuDNN version": str(torch.backends.cudnn.version() if available else None),
    }
    if available:
        for i in range(torch.cuda.device_count()):
            info[f"GPU {i}"] = torch.cuda.get_device_name(i)
    info["CPU threads"] = str(torch.get_num_threads())
    return info


def show_versions():
    """Print versions of skc2bin, its dependencies, CUDA and the machine.

    Paste its output into bug reports. It lists skc2bin, Python, torch (with
    whether CUDA is available to it, the CUDA and cuDNN versions it was built
    with, the GPUs it sees and its number of CPU threads), torchvision,
    scikit-learn, skorch, numpy, scipy, joblib, safetensors, matplotlib
    (optional; ``None`` when not installed) and the platform.

    See Also
    --------
    sklearn.show_versions : The same for scikit-learn.

    Examples
    --------
    >>> from skc2bin import show_versions
    >>> show_versions()  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    System:
        python: ...
    Python dependencies:
         skc2bin: ...
           torch: ...
    torch and CUDA:
    CUDA available: ...
    """
    print("\nSystem:")
    for key, value in _get_sys_info().items():
        print(f"{key:>10}: {value}")

    print("\nPython dependencies:")
    for key, value in _get_deps_info().items():
        print(f"{key:>12}: {value}")

    print("\ntorch and CUDA:")
    for key, value in _get_torch_info().items():
        print(f"{key:>14}: {value}")
