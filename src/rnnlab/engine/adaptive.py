"""Adaptive softmax (Grave et al. 2017): a cheaper exact output layer for a large vocabulary.

The vocabulary must be sorted by falling frequency (rnnlab's word vocabularies are).
Cutoffs c_1 < ... < c_K split it into a shortlist [0, c_1) and K tail clusters
[c_k, c_{k+1}) (c_{K+1} = V). The head scores the shortlist words and one token per
cluster; each cluster scores its own words:

    head:    z = x [W_0; C]^T + [b_0; d]     (N, c_1 + K)   W_0 = W[0:c_1], C the cluster vectors
    tail k:  u_k = x W_k^T + b_k             (N, c_{k+1} - c_k)   W_k = W[c_k:c_{k+1}]
    log p(w) = log softmax(z)[w]                                    for w < c_1
             = log softmax(z)[c_1 + k - 1] + log softmax(u_k)[w - c_k]   for w in cluster k

It is a normalised distribution over all V words, so its perplexity is comparable
with a full softmax's. Training needs cluster k's scores only at the rows whose target
lies in it: with a 2,000-word shortlist on the word benchmark, 9% of the tokens, so the
10k-word output layer costs about a third of a full one.

W is one (V, E) array, the same layout as a `Linear` head's weight, so it can be tied to
an embedding. `torch.nn.AdaptiveLogSoftmaxWithLoss` with `div_value=1`, identity tail
projections and zero tail biases computes the same function (tested).

    loss = layer.loss(x, targets)       # mean -log p(target), x (N, E); keeps what backward needs
    dx = layer.backward()               # adds the parameter gradients into layer.grads
    log_p = layer.log_probs(x)          # (N, V), for sampling and scoring any word
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from .init import pytorch_uniform
from .losses import log_softmax, softmax_cross_entropy
from .module import Module


def check_cutoffs(cutoffs: Sequence[int], num_classes: int) -> tuple:
    """The cutoffs as a tuple of ints, or ValueError: strictly increasing, within (0, num_classes)."""
    cutoffs = tuple(int(c) for c in cutoffs)
    if not cutoffs or any(c <= 0 or c >= num_classes for c in cutoffs) or list(cutoffs) != sorted(set(cutoffs)):
        raise ValueError(
            f"adaptive softmax cutoffs must be increasing integers between 1 and the vocabulary "
            f"size - 1 ({num_classes - 1}), got {list(cutoffs)}"
        )
    return cutoffs


class AdaptiveSoftmax(Module):
    """Parameters: weight (V, E), bias (V,), cluster_weight (K, E), cluster_bias (K,)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        cutoffs: Sequence[int],
        bias: bool = True,
        dtype=np.float32,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.cutoffs = check_cutoffs(cutoffs, num_classes)
        self.in_features, self.num_classes = in_features, num_classes
        self.bounds = (*self.cutoffs, num_classes)  # cluster k spans [bounds[k-1], bounds[k])
        rng = np.random.default_rng(seed)
        clusters = len(self.cutoffs)
        self.add_param("weight", pytorch_uniform(rng, (num_classes, in_features), in_features, dtype))
        self.add_param("cluster_weight", pytorch_uniform(rng, (clusters, in_features), in_features, dtype))
        if bias:
            self.add_param("bias", pytorch_uniform(rng, (num_classes,), in_features, dtype))
            self.add_param("cluster_bias", pytorch_uniform(rng, (clusters,), in_features, dtype))
        self._cache: Optional[tuple] = None
        self._weight_grad_is_zero = True  # as in Linear: the first backward writes, later ones add

    def zero_grad(self) -> None:
        super().zero_grad()
        self._weight_grad_is_zero = True

    def _head_scores(self, x: np.ndarray) -> np.ndarray:
        """z = x [W_0; C]^T + [b_0; d]: (N, c_1 + K)."""
        shortlist = self.cutoffs[0]
        scores = np.empty((x.shape[0], shortlist + len(self.cutoffs)), dtype=np.result_type(x, self.params["weight"]))
        np.matmul(x, self.params["weight"][:shortlist].T, out=scores[:, :shortlist])
        np.matmul(x, self.params["cluster_weight"].T, out=scores[:, shortlist:])
        if "bias" in self.params:
            scores[:, :shortlist] += self.params["bias"][:shortlist]
            scores[:, shortlist:] += self.params["cluster_bias"]
        return scores

    def _tail_scores(self, x: np.ndarray, k: int) -> np.ndarray:
        """u_k = x W_k^T + b_k for cluster k = 1..K."""
        low, high = self.bounds[k - 1], self.bounds[k]
        scores = x @ self.params["weight"][low:high].T
        if "bias" in self.params:
            scores += self.params["bias"][low:high]
        return scores

    def loss(self, x: np.ndarray, targets: np.ndarray, need_grad: bool = True) -> float:
        """Mean over rows of -log p(target | x); x (N, E), targets (N,) ints in [0, V).

        Each part is a softmax cross-entropy: the head against the target or its cluster's
        token, over all N rows; cluster k against the target, over its n_k rows, weighted
        n_k / N. The gradients of those parts are all backward needs.
        """
        x = x.reshape(-1, self.in_features)
        targets = np.asarray(targets).reshape(-1)
        rows = x.shape[0]
        if targets.shape[0] != rows:
            raise ValueError(f"{rows} rows of features but {targets.shape[0]} targets")
        if rows and (targets.min() < 0 or targets.max() >= self.num_classes):
            raise ValueError(f"target out of range [0, {self.num_classes}): min {targets.min()}, max {targets.max()}")
        cluster = np.searchsorted(self.cutoffs, targets, side="right")  # 0: shortlist, k: tail cluster k
        head_targets = np.where(cluster == 0, targets, self.cutoffs[0] + cluster - 1)
        head = self._head_scores(x)
        total, d_head = softmax_cross_entropy(
            head, head_targets, need_grad=need_grad, out=head if need_grad else None
        )  # in place: scores not needed again
        tails = []  # (k, its rows, their features, d u_k) for backward
        for k in range(1, len(self.cutoffs) + 1):
            members = np.flatnonzero(cluster == k)
            if members.size == 0:
                continue
            x_members = x[members]
            tail = self._tail_scores(x_members, k)
            part, d_tail = softmax_cross_entropy(
                tail, targets[members] - self.bounds[k - 1], need_grad=need_grad, out=tail if need_grad else None
            )
            weight = members.size / rows
            total += part * weight
            if d_tail is not None:  # need_grad
                d_tail *= weight
                tails.append((k, members, x_members, d_tail))
        self._cache = (x, d_head, tails) if need_grad else None
        return total

    def backward(self) -> np.ndarray:
        """dx = dz [W_0; C] + sum_k scatter(du_k W_k);  dW_0 = dz_0^T x,  dC = dz_C^T x,  dW_k = du_k^T x_k.

        The first backward after `zero_grad` writes into `grads["weight"]` (a tied embedding
        adds its part after it, as with `Linear`); cluster rows no target fell in stay as they were.
        """
        if self._cache is None:
            raise RuntimeError("AdaptiveSoftmax.backward needs a loss(..., need_grad=True) first")
        x, d_head, tails = self._cache
        shortlist = self.cutoffs[0]
        weight, grads = self.params["weight"], self.grads
        write = self._weight_grad_is_zero and grads["weight"].dtype == d_head.dtype

        def add_product(target: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
            if write:
                np.matmul(left, right, out=target)
            else:
                target += left @ right

        d_words, d_clusters = d_head[:, :shortlist], d_head[:, shortlist:]
        add_product(grads["weight"][:shortlist], d_words.T, x)
        grads["cluster_weight"] += d_clusters.T @ x
        dx = d_words @ weight[:shortlist]
        dx += d_clusters @ self.params["cluster_weight"]
        if "bias" in grads:
            grads["bias"][:shortlist] += d_words.sum(axis=0)
            grads["cluster_bias"] += d_clusters.sum(axis=0)
        for k, members, x_members, d_tail in tails:
            low, high = self.bounds[k - 1], self.bounds[k]
            add_product(grads["weight"][low:high], d_tail.T, x_members)
            if "bias" in grads:
                grads["bias"][low:high] += d_tail.sum(axis=0)
            dx[members] += d_tail @ weight[low:high]
        self._weight_grad_is_zero = False
        self._cache = None
        return dx

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        """log p(w | x) for every word: (N, V). Costs a full softmax's products."""
        x = x.reshape(-1, self.in_features)
        head = log_softmax(self._head_scores(x))
        shortlist = self.cutoffs[0]
        out = np.empty((x.shape[0], self.num_classes), dtype=head.dtype)
        out[:, :shortlist] = head[:, :shortlist]
        for k in range(1, len(self.cutoffs) + 1):
            low, high = self.bounds[k - 1], self.bounds[k]
            out[:, low:high] = log_softmax(self._tail_scores(x, k)) + head[:, shortlist + k - 1, None]
        return out
