"""Weight initialisers: each takes a `numpy.random.Generator` and returns a new array.

All randomness comes from the generator passed in, so a seed reproduces a model.
The results are created in float64 and cast once to `dtype`, so the same seed gives
the same weights (up to rounding) in float32 and float64.

Left out: Kaiming and the normal Xavier variant -- recurrent layers here use PyTorch's
uniform(-1/sqrt(H), 1/sqrt(H)), Keras's glorot_uniform, and optionally orthogonal recurrences.

Example:
    >>> rng = np.random.default_rng(0)
    >>> w = pytorch_uniform(rng, (4 * 8, 8), hidden_size=8)   # (G*H, H) float32
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import numpy as np

from .registry import get_cell

Shape = Union[int, Sequence[int]]


def uniform(rng: np.random.Generator, shape: Shape, low: float, high: float, dtype=np.float32) -> np.ndarray:
    """Samples from U(low, high) with the given shape."""
    return rng.uniform(low, high, size=shape).astype(dtype, copy=False)


def normal(rng: np.random.Generator, shape: Shape, std: float, mean: float = 0.0, dtype=np.float32) -> np.ndarray:
    """Samples from N(mean, std^2) with the given shape."""
    return rng.normal(mean, std, size=shape).astype(dtype, copy=False)


def pytorch_uniform(rng: np.random.Generator, shape: Shape, hidden_size: int, dtype=np.float32) -> np.ndarray:
    """PyTorch's default for RNN/LSTM/GRU and Linear: U(-k, k) with k = 1/sqrt(hidden_size).

    For `Linear`, pass `hidden_size=in_features`.
    """
    k = 1.0 / math.sqrt(hidden_size)
    return uniform(rng, shape, -k, k, dtype)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype=np.float32) -> np.ndarray:
    """Keras's glorot_uniform (Xavier) for a (fan_in, fan_out) kernel: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).

    Keras's layout is (in, out), the transpose of PyTorch's weights: draw here, then `.T`.
    """
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(rng, (fan_in, fan_out), -limit, limit, dtype)


def _orthogonal_block(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal rows or columns (whichever are fewer)."""
    flat = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))  # (big, small)
    q, r = np.linalg.qr(flat)  # q: (big, small)
    # Sign fix: make diag(r) positive so q is uniformly (Haar) distributed.
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    q *= d  # (big, small)
    return q if rows >= cols else q.T  # (rows, cols)


def orthogonal(
    rng: np.random.Generator, shape: Shape, gain: float = 1.0, dtype=np.float32, per_gate: bool = True
) -> np.ndarray:
    """Orthogonal init, as in `torch.nn.init.orthogonal_` (QR of a Gaussian, sign-fixed).

    A stacked recurrent matrix of shape (G*H, H) -- G gates, each an H x H block --
    gets each block orthogonal on its own, so every gate's recurrence preserves norms.
    `per_gate=False`, and any other 2-D shape (rows, cols), gets one (semi-)orthogonal
    matrix (Keras's Orthogonal of a recurrent_kernel (H, G*H) is that one, transposed:
    orthonormal columns W^T W = I); shapes with more than 2 dims are flattened to
    (shape[0], prod(rest)).
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal init needs at least 2 dims, got shape {shape}")
    rows, cols = shape[0], int(np.prod(shape[1:]))
    if per_gate and rows > cols and rows % cols == 0:
        blocks = [_orthogonal_block(rng, cols, cols) for _ in range(rows // cols)]  # G x (H, H)
        out = np.concatenate(blocks, axis=0)  # (G*H, H)
    else:
        out = _orthogonal_block(rng, rows, cols)  # (rows, cols)
    out *= gain
    return out.reshape(shape).astype(dtype, copy=False)


def set_forget_bias(bias: np.ndarray, hidden_size: int, value: float = 1.0, cell: str = "lstm") -> np.ndarray:
    """Sets the forget-gate rows of one stacked (G*H,) bias of `cell` in place and returns `bias`.

    The rows are the registry's (`forget_gate`: LSTM and peephole i, f, g, o -> rows H:2H).
    PyTorch-style cells add `bias_ih` and `bias_hh`: for an effective forget bias of `value`,
    set it on one and leave the other's at 0 (`set_forget_biases` does both).
    """
    spec = get_cell(cell)
    rows = spec.forget_rows(hidden_size)  # ValueError for a cell without a forget gate
    if bias.shape[0] != spec.num_gates * hidden_size:
        raise ValueError(f"expected a {cell} bias of length {spec.num_gates * hidden_size}, got {bias.shape}")
    bias[rows] = value
    return bias


def set_forget_biases(params: dict, cell: str, hidden_size: int, value: float, prefix: str = "") -> None:
    """For every layer and direction: forget rows of bias_ih = value, of bias_hh = 0 (in place).

    `prefix` is where the recurrent stack's names start in `params` ("rnn." in a model).
    """
    for name, bias in params.items():
        if name.startswith(prefix + "bias_ih"):
            set_forget_bias(bias, hidden_size, value, cell)
        elif name.startswith(prefix + "bias_hh"):  # (absent with one bias per gate)
            set_forget_bias(bias, hidden_size, 0.0, cell)
