"""The one convention every engine layer shares: parameters and gradients are dicts.

`params[name]` and `grads[name]` have the same keys (PyTorch's names) and shapes.
Backward passes *add* into `grads`; `zero_grad()` clears them. Nothing else is
shared: there is no autograd, no hooks, no registration magic.
"""

from __future__ import annotations

import numpy as np


class Module:
    """Base for engine layers: a `params` dict, a matching `grads` dict, a train flag."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    def zero_grad(self) -> None:
        for grad in self.grads.values():
            grad.fill(0)

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: value.copy() for name, value in self.params.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the existing parameters (same keys, same shapes, any array-like)."""
        missing = sorted(set(self.params) - set(state))
        unexpected = sorted(set(state) - set(self.params))
        if missing or unexpected:
            raise KeyError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        for name, value in state.items():
            value = np.asarray(value)
            if value.shape != self.params[name].shape:
                raise ValueError(f"{name}: expected shape {self.params[name].shape}, got {value.shape}")
            self.params[name][...] = value

    def num_parameters(self) -> int:
        return sum(p.size for p in self.params.values())
