"""Sampling from a language model: greedy, temperature, top-k, after a prefix.

    text = generate(model, vocab, "ROMEO:", length=200, temperature=0.8, rng=rng)

The prefix is run through the model in one forward pass (warming up the state); then
one token at a time is drawn from softmax(logits / temperature), restricted to the k
most likely when `top_k` is set, or the argmax when `greedy`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from rnnlab.engine.losses import softmax
from rnnlab.errors import UsageError


def next_token(logits: np.ndarray, temperature: float = 1.0, top_k: Optional[int] = None,
               greedy: bool = False, rng: Optional[np.random.Generator] = None) -> int:
    """One token id from a (V,) row of logits."""
    if greedy or temperature == 0:
        return int(np.argmax(logits))
    logits = np.asarray(logits, dtype=np.float64)
    if top_k is not None and top_k < logits.size:
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= cutoff, logits, -np.inf)
    probabilities = softmax(logits, temperature=temperature)
    rng = rng if rng is not None else np.random.default_rng()
    return int(rng.choice(logits.size, p=probabilities / probabilities.sum()))


def generate(model, vocab, prefix: str, length: int, temperature: float = 1.0, top_k: Optional[int] = None,
             greedy: bool = False, rng: Optional[np.random.Generator] = None, unknown: str = "error") -> str:
    """The prefix followed by `length` generated tokens, decoded."""
    if length < 0:
        raise UsageError(f"--length must be >= 0, got {length}")
    if temperature < 0:
        raise UsageError(f"--temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {top_k}")
    ids = vocab.encode(prefix, unknown=unknown)
    if ids.size == 0:
        raise UsageError("the prefix is empty (or every symbol in it was skipped); give at least one "
                         "symbol from the vocabulary with --prefix")
    was_training = getattr(model, "training", False)
    model.eval()
    logits, state = model.forward(ids.reshape(-1, 1))  # (T, 1, V): the prefix in one pass
    generated = []
    for _ in range(length):
        token = next_token(logits[-1, 0], temperature, top_k, greedy, rng)
        generated.append(token)
        logits, state = model.forward(np.array([[token]]), state)  # (1, 1, V)
    model.train(was_training)
    separator = "" if vocab.kind == "char" else " "
    text = vocab.decode(ids)
    if generated:
        text += separator + vocab.decode(generated)
    return text
