"""The non-recurrent layers: Embedding, OneHot, Linear, Dropout (standard and locked).

Each layer's `forward` keeps only what its `backward` needs; `backward(dy)` adds the
parameter gradients into `self.grads` and returns the gradient for the input (or None
when the input is integer indices). Parameter names and layouts are PyTorch's, so
`torch.nn.Linear(...).state_dict()` converted to NumPy loads with `load_state_dict`.

Left out: padding_idx / max_norm for embeddings, layer norm, weight tying helpers.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from rnnlab.engine.init import normal, pytorch_uniform, uniform
from rnnlab.engine.module import Module


class Embedding(Module):
    """A lookup table: row `i` of `weight` (num_embeddings, embedding_dim) is the vector of index `i`.

    `init="normal"` is PyTorch's default N(0, 1); `init="uniform"` is U(-0.1, 0.1), the
    choice of the PyTorch word-language-model example.

    Example:
        >>> emb = Embedding(10, 4, seed=0)
        >>> emb.forward(np.array([[1, 2], [3, 1]])).shape   # (T, B) -> (T, B, E)
        (2, 2, 4)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        dtype=np.float32,
        seed: Optional[int] = None,
        init: str = "normal",
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        shape = (num_embeddings, embedding_dim)
        if init == "normal":
            weight = normal(rng, shape, 1.0, dtype=dtype)
        elif init == "uniform":
            weight = uniform(rng, shape, -0.1, 0.1, dtype=dtype)
        else:
            raise ValueError(f"unknown embedding init {init!r}; expected 'normal' or 'uniform'")
        self.add_param("weight", weight)
        self.num_embeddings, self.embedding_dim = shape
        self._indices: Optional[np.ndarray] = None

    def forward(self, indices: np.ndarray) -> np.ndarray:
        """y[..., :] = W[indices[...], :]; indices of any shape S -> (*S, E)."""
        indices = check_indices(indices, self.num_embeddings)
        self._indices = indices
        return np.take(self.params["weight"], indices, axis=0)  # (*S, E)

    def backward(self, dy: np.ndarray) -> None:
        """dW[v] += sum of dy[s] over all positions s with indices[s] == v."""
        if self._indices is None:
            raise RuntimeError("Embedding.backward called before forward")
        add_rows_at(self.grads["weight"], self._indices.reshape(-1), dy.reshape(-1, self.embedding_dim))
        return None


def add_rows_at(table: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> None:
    """table[indices[n]] += rows[n] for every n, repeated indices summed: (V, E), (N,), (N, E).

    Two ways, chosen by cost (`np.add.at` is slower than both: ~20 ns per element):
    - few distinct indices, wide rows (3,200 char ids into the 65 x 2,048 gate table of a
      one-hot LSTM): sum each index's rows, one Python step per distinct index (~8 us
      each; 5 ms here, where a product with the one-hot matrix takes 30 ms);
    - otherwise (700 word ids into a 10k x 200 embedding): one `np.bincount` over
      (row, column) cells, ~7 ns per cell (1.5 ms here), accumulated in float64.
    """
    if indices.size == 0:
        return
    order = np.argsort(indices, kind="stable")
    sorted_indices = indices[order]
    run_start = np.r_[True, sorted_indices[1:] != sorted_indices[:-1]]  # (N,) in sorted order
    starts = np.flatnonzero(run_start)
    width = rows.shape[1]
    if starts.size * 1000 < indices.size * width:  # ~8 us per distinct index vs ~7 ns per cell
        ends = np.r_[starts[1:], sorted_indices.size]
        for start, end in zip(starts.tolist(), ends.tolist()):
            table[sorted_indices[start]] += rows[order[start:end]].sum(axis=0)
        return
    distinct = sorted_indices[starts]
    slot = np.empty_like(indices)
    slot[order] = np.cumsum(run_start) - 1  # slot[n]: where indices[n] is in `distinct`
    cells = (slot.reshape(-1, 1) * width + np.arange(width)).reshape(-1)  # (N*E,)
    sums = np.bincount(cells, weights=rows.reshape(-1), minlength=distinct.size * width)
    table[distinct] += sums.reshape(distinct.size, width)


class OneHot(Module):
    """Indices of any shape S -> one-hot vectors (*S, num_classes); no parameters."""

    def __init__(self, num_classes: int, dtype=np.float32) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dtype = dtype

    def forward(self, indices: np.ndarray) -> np.ndarray:
        """y[..., v] = 1 if indices[...] == v else 0."""
        indices = check_indices(indices, self.num_classes)
        out = np.zeros(indices.shape + (self.num_classes,), dtype=self.dtype)  # (*S, V)
        np.put_along_axis(out, indices[..., None], 1, axis=-1)
        return out

    def backward(self, dy: np.ndarray) -> None:
        """The input is integer indices: there is no gradient to return."""
        return None


class Linear(Module):
    """y = x W^T + b on the last axis; W (out_features, in_features), b (out_features,).

    Init as PyTorch: W and b ~ U(-k, k), k = 1/sqrt(in_features).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, seed: Optional[int] = None
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.in_features, self.out_features = in_features, out_features
        self.add_param("weight", pytorch_uniform(rng, (out_features, in_features), in_features, dtype))
        if bias:
            self.add_param("bias", pytorch_uniform(rng, (out_features,), in_features, dtype))
        self._x: Optional[np.ndarray] = None  # (N, in): the input, all backward needs
        self._dw: Optional[np.ndarray] = None  # (out, in): reused buffer for dy^T x
        self._weight_grad_is_zero = True  # set by zero_grad, cleared by backward

    def zero_grad(self) -> None:
        super().zero_grad()
        self._weight_grad_is_zero = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(..., in) -> (..., out), one matrix product over all leading axes."""
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (N, in)
        y = x2 @ self.params["weight"].T  # (N, out)
        if "bias" in self.params:
            y += self.params["bias"]
        self._x = x2
        return y.reshape(lead + (self.out_features,))  # (..., out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dW += dy^T x,  db += sum_n dy,  dx = dy W.

        The first backward after `zero_grad` writes dy^T x straight into `grads["weight"]`
        (for a 10k-word head that saves a 10 MB buffer and a pass over it). So a layer that
        shares this gradient array (a tied embedding) must add its part after this backward.
        """
        if self._x is None:
            raise RuntimeError("Linear.backward called before forward")
        x2 = self._x  # (N, in)
        dy2 = dy.reshape(-1, self.out_features)  # (N, out)
        weight, weight_grad = self.params["weight"], self.grads["weight"]
        dtype = np.result_type(dy2, x2)
        if self._weight_grad_is_zero and weight_grad.dtype == dtype:
            np.matmul(dy2.T, x2, out=weight_grad)  # (out, in)
        else:
            if self._dw is None or self._dw.dtype != dtype:
                self._dw = np.empty(weight.shape, dtype=dtype)
            np.matmul(dy2.T, x2, out=self._dw)  # (out, in)
            weight_grad += self._dw
        self._weight_grad_is_zero = False
        if "bias" in self.grads:
            self.grads["bias"] += dy2.sum(axis=0)  # (out,)
        dx = dy2 @ weight  # (N, in)
        return dx.reshape(dy.shape[:-1] + (self.in_features,))  # (..., in)


class Dropout(Module):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p); identity in eval or p == 0.

    `locked=True` (variational / locked dropout, Gal & Ghahramani; Merity et al.) draws
    one mask (1, B, D) for a time-major (T, B, D) input and uses it at every time step.
    `rng` is public so a checkpoint can save and restore its state.
    """

    def __init__(self, p: float, locked: bool = False, seed: Optional[int] = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p
        self.locked = locked
        self.rng = np.random.default_rng(seed)
        self._mask: Optional[np.ndarray] = None  # (T, B, D) or (1, B, D); None = identity

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = x * mask, mask in {0, 1/(1-p)} (broadcast over time when locked)."""
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        shape = (1,) + x.shape[1:] if self.locked and x.ndim == 3 else x.shape
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
        if self.p == 1.0:
            mask = np.zeros(shape, dtype=dtype)
        else:
            draw = self.rng.random(shape, dtype=dtype)  # (T|1, B, D)
            mask = (draw >= self.p).astype(dtype)  # (T|1, B, D)
            mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        return x * mask  # (T, B, D)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dx = dy * mask (the same mask as forward)."""
        if self._mask is None:
            return dy
        return dy * self._mask


def check_indices(indices: np.ndarray, n: int) -> np.ndarray:
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"index out of range [0, {n}): min {indices.min()}, max {indices.max()}")
    return indices
