"""Engines other than the NumPy one; today PyTorch (`rnnlab.backends.torch`), an optional extra.

Nothing here imports torch until a torch model is asked for, so `import rnnlab` and
every NumPy run work without it.

    require_backend("torch")                          # UsageError with the install line if missing
    model = build_model(config, "torch:auto", seed=0) # a TorchModel: the NumpyModel API on PyTorch

A backend spec is `NAME[:DEVICE]`, DEVICE one of auto | cpu | cuda | mps (auto: CUDA when
present, else the CPU).
"""

from __future__ import annotations

import importlib.util
from typing import Optional

from rnnlab.errors import UsageError

BACKENDS = ("numpy", "torch")
DEVICES = ("auto", "cpu", "cuda", "mps")


def require_backend(name: str) -> None:
    """UsageError unless `name` is a backend that can run here."""
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    if name == "torch" and importlib.util.find_spec("torch") is None:
        raise UsageError("--backend torch needs PyTorch: pip install 'rnnlab[torch]'")


def build_model(config, backend_spec: str, seed: Optional[int] = None):
    """The model `config` describes, on the engine and device `backend_spec` names ("torch:cuda")."""
    name, _, device = backend_spec.partition(":")
    require_backend(name)
    if name == "numpy":
        from rnnlab.models import NumpyModel

        return NumpyModel(config, seed=seed)
    from rnnlab.backends.torch import TorchModel

    return TorchModel(config, seed=seed, device=device or "auto")


__all__ = ["BACKENDS", "DEVICES", "require_backend", "build_model"]
