"""Losses as pure functions: `loss, grad = f(prediction, target, need_grad=True)`.

`loss` is a Python float; `grad` is d loss / d prediction with the prediction's shape
and dtype (None when `need_grad=False`). Nothing is stored between calls.

Also here: `log_softmax` and `softmax` (with temperature) for evaluation and sampling.
The adaptive softmax, an output layer with its own loss, is in adaptive.py.
Left out: label smoothing, class weights, sampled softmax.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

LossAndGrad = tuple[float, Optional[np.ndarray]]


def softmax_cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: Optional[np.ndarray] = None,
    need_grad: bool = True,
    out: Optional[np.ndarray] = None,
) -> LossAndGrad:
    """Mean cross-entropy of softmax(logits) against integer targets, over unmasked rows.

        p_n  = softmax(z_n) = exp(z_n - m_n) / sum_v exp(z_nv - m_n),   m_n = max_v z_nv
        l_n  = log sum_v exp(z_nv - m_n) - (z_{n,t_n} - m_n)
        L    = sum_n w_n l_n / sum_n w_n          (w = mask, or 1 everywhere)
        dL/dz_n = w_n / sum(w) * (p_n - onehot(t_n))

    Shapes: logits (N, V), targets (N,) int, mask (N,) bool or float weights.
    Rows with mask 0 may hold any target (e.g. -100, PyTorch's ignore_index); if every
    row is masked the loss is 0 and the gradient 0 (PyTorch would give nan).

    Speed: one (N, V) working array -- `out` if given (float, same shape; may be `logits`
    itself), else a new one -- holds shifted logits, then exp, then the gradient, all in
    place, a block of rows at a time. Otherwise the logits are not modified. Returned
    `grad` is that working array. Without `need_grad` the work needs one block only.

    Example:
        >>> loss, dz = softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
        >>> round(loss, 4)   # log 4
        1.3863
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, V), got shape {logits.shape}")
    N, V = logits.shape
    targets = np.asarray(targets).reshape(-1)  # (N,)
    if targets.shape[0] != N:
        raise ValueError(f"{N} rows of logits but {targets.shape[0]} targets")
    weights = None
    if mask is not None:
        weights = np.asarray(mask).reshape(-1).astype(logits.dtype)  # (N,)
        targets = np.where(weights != 0, targets, 0)  # safe to index
    if N and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"target out of range [0, {V}): min {targets.min()}, max {targets.max()}")
    # Rows in blocks of ~1 MB: after the first pass over a block (max) the other four (shift,
    # exp, sum, scale) find it in cache; one pass over the whole (350, 10k) array is 14 MB.
    block = max(1, (1 << 20) // max(1, V * logits.itemsize))
    if out is not None:
        work = out  # (N, V)
    elif need_grad:
        work = np.empty_like(logits)  # (N, V): returned as the gradient
    else:
        work = np.empty((min(block, N), V), dtype=logits.dtype)  # one block, reused
    per_row = np.empty(N, dtype=work.dtype)  # (N,) l_n
    sum_exp = np.empty_like(per_row)  # (N,)
    total = float(N) if weights is None else float(weights.sum(dtype=np.float64))
    for start in range(0, N, block):
        rows = slice(start, min(start + block, N))
        t = targets[rows]  # (b,)
        z = work[rows] if work.shape[0] == N else work[: t.shape[0]]  # (b, V)
        np.subtract(logits[rows], logits[rows].max(axis=1, keepdims=True), out=z)  # z - m
        at_target = np.arange(z.shape[0]), t
        picked = z[at_target]  # (b,) z_t - m
        np.exp(z, out=z)  # exp(z - m)
        np.sum(z, axis=1, out=sum_exp[rows])
        per_row[rows] = np.log(sum_exp[rows]) - picked
        if not need_grad or total == 0.0:
            continue
        # dz = (exp / sum_exp) * w / W - onehot * w / W
        row_scale = (1.0 / total) if weights is None else (weights[rows] / total)  # () or (b,)
        z *= (row_scale / sum_exp[rows])[:, None]  # p * w / W
        z[at_target] -= row_scale  # - onehot * w / W

    if weights is None:
        loss = float(per_row.sum(dtype=np.float64)) / total if N else 0.0
    else:
        loss = float(np.dot(weights.astype(np.float64), per_row)) / total if total else 0.0
    if not need_grad:
        return loss, None
    if total == 0.0:
        work.fill(0)
    return loss, work


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(z) = z - m - log sum exp(z - m), computed stably; same shape as logits."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    tmp = np.exp(shifted)
    shifted -= np.log(tmp.sum(axis=axis, keepdims=True))
    return shifted


def softmax(logits: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """softmax(z / temperature) along `axis`, computed stably; same shape as logits.

    temperature < 1 sharpens the distribution, > 1 flattens it (must be > 0).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = logits / temperature if temperature != 1.0 else logits
    probs = scaled - scaled.max(axis=axis, keepdims=True)
    np.exp(probs, out=probs)
    probs /= probs.sum(axis=axis, keepdims=True)
    return probs


def mean_squared_error(pred: np.ndarray, target: np.ndarray, need_grad: bool = True) -> LossAndGrad:
    """L = mean((pred - target)^2) over all elements;  dL/dpred = 2 (pred - target) / n."""
    diff = pred - target  # (...)
    n = diff.size
    loss = float(np.vdot(diff.reshape(-1), diff.reshape(-1))) / n
    if not need_grad:
        return loss, None
    diff *= 2.0 / n
    return loss, diff


def sum_squared_error(pred: np.ndarray, target: np.ndarray, need_grad: bool = True) -> LossAndGrad:
    """L = 0.5 * sum((pred - target)^2);  dL/dpred = pred - target.

    The classic loss of the binary-addition and minimal-LSTM demos.
    """
    diff = pred - target  # (...)
    loss = 0.5 * float(np.vdot(diff.reshape(-1), diff.reshape(-1)))
    return loss, (diff if need_grad else None)


def sigmoid_binary_cross_entropy(logits: np.ndarray, targets: np.ndarray, need_grad: bool = True) -> LossAndGrad:
    """Mean binary cross-entropy of sigmoid(x) against targets t in [0, 1].

        l = -t log s(x) - (1 - t) log(1 - s(x)) = max(x, 0) - x t + log(1 + exp(-|x|))
        dL/dx = (s(x) - t) / n,   s(x) = 1 / (1 + exp(-x)),   n = number of elements

    The right-hand form never overflows; s(x) is built from e = exp(-|x|) as well.
    """
    x = logits
    e = np.exp(-np.abs(x))  # (...) in (0, 1]
    per = np.maximum(x, 0) - x * targets + np.log1p(e)  # (...)
    n = per.size
    loss = float(per.sum(dtype=np.float64)) / n
    if not need_grad:
        return loss, None
    # s(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0.
    sig = np.where(x >= 0, 1.0, e)
    sig /= 1.0 + e
    sig -= targets
    sig *= 1.0 / n
    return loss, sig.astype(x.dtype, copy=False)
