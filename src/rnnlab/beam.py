"""Beam search: the most likely continuations of a prompt, K hypotheses at a time.

    hypotheses = beam_search(model, prompt_ids, length=20, beam=4)   # [(ids, score), ...] best first

Each step runs the K live hypotheses through the model as one batch (T=1, B=K), scores
every one-token extension, and keeps the K best by total log-probability; the recurrent
state of a kept extension is its parent's, gathered along the batch axis. A hypothesis
ends after `length` tokens, or earlier at `end_id` when one is given. Finished ones are
ranked by the length-normalised score of Wu et al. (2016) as HF's `length_penalty` uses it:

    score = sum_t log p(y_t | y_<t, prompt) / len(y) ** alpha       (alpha = length_penalty)

alpha = 0 ranks by total log-probability (favouring short endings), alpha = 1 by the
mean per token. Without `end_id` every hypothesis has `length` tokens, so alpha only
rescales the scores. Beam width 1 is greedy search.

Left out: diverse or constrained beams, n-gram blocking.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax along the last axis, in float64: (B, V) -> (B, V)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def select_batch(state, index: np.ndarray):
    """The recurrent state of batch rows `index`: arrays (L*D, B, H) along axis 1; a pair
    (h, c) or any tuple of them element-wise (whatever the cell keeps)."""
    if isinstance(state, (tuple, list)):
        return type(state)(select_batch(part, index) for part in state)
    return state[:, index]


def beam_search(
    model,
    prompt: np.ndarray,
    length: int,
    beam: int,
    length_penalty: float = 1.0,
    count: int = 1,
    end_id: Optional[int] = None,
) -> list[tuple[np.ndarray, float]]:
    """The `count` best continuations of `prompt` (ids (T,)) as (ids (<= length,), score), best first."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        logits, state = model.forward(prompt.reshape(-1, 1))  # (T, 1, V): the prompt in one pass
        log_probs = log_softmax(logits[-1])  # (1, V)
        sequences = np.zeros((1, 0), dtype=np.int64)  # (live, t)
        totals = np.zeros(1)  # (live,) summed log-probabilities
        finished: list[tuple[np.ndarray, float]] = []
        for step in range(1, length + 1):
            candidates = (totals[:, None] + log_probs).reshape(-1)  # (live * V,)
            wanted = beam if end_id is None else 2 * beam  # enough that `beam` survive the endings
            order = np.argsort(-candidates, kind="stable")[:wanted]  # ties: the lower id, as argmax
            parents, tokens = np.divmod(order, log_probs.shape[1])
            keep: list[int] = []  # ranks (into `order`) of the extensions that live on
            for rank, (parent, token) in enumerate(zip(parents, tokens)):
                ids = np.append(sequences[parent], token)
                if token == end_id:
                    if rank < beam:  # an ending among the best K extensions (as HF's beam scorer)
                        finished.append((ids, candidates[order[rank]] / step**length_penalty))
                elif len(keep) < beam:
                    keep.append(rank)
                if len(keep) == beam:
                    break
            if not keep:
                break
            kept = np.array(keep)
            sequences = np.concatenate([sequences[parents[kept]], tokens[kept, None]], axis=1)  # (live, step)
            totals = candidates[order[kept]]
            if step == length:
                finished.extend((ids, total / length**length_penalty) for ids, total in zip(sequences, totals))
                break
            state = select_batch(state, parents[kept])  # each hypothesis continues from its parent's state
            logits, state = model.forward(tokens[kept].reshape(1, -1), state)  # (1, live, V): one batched step
            log_probs = log_softmax(logits[0])  # (live, V)
    finally:
        model.train(was_training)
    if length == 0:
        return [(np.zeros(0, dtype=np.int64), 0.0)]
    finished.sort(key=lambda hypothesis: -hypothesis[1])  # stable: equal scores keep search order
    return finished[:count]
