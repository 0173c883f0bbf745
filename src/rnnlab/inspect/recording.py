"""Recorded activations of a language model reading a text, and its predictions at every step.

    rec = record(model, ids)        # ids (N,) -> Recording
    rec.states[(0, 0)]["h"]         # (N, H) hidden state after reading each symbol, time order
    rec.states[(0, 0)]["f"]         # (N, H) forget gate (LSTM), after its sigmoid
    rec.top_ids, rec.top_probs      # (N, 5): the model's most likely next symbols after each symbol
    rec.loss                        # (N,) -log p(symbol t | symbols < t); NaN for the first symbol

The recurrent stack's values come from the engine's recording switch,
`model.forward(inputs, state, record=True)`, which fills `model.rnn.recorded`:
{(layer, direction): {"h": (T, B, H), "c": (T, B, H) for cells with a cell state,
one (T, B, H) array per gate named by the registry's `gate_names`}}. The text is read in chunks of
`chunk` steps, state carried, so a long text never forms (N, V) logits at once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from rnnlab.engine.registry import get_cell

Key = tuple[int, int]  # (layer, direction)
TOP_K = 5


@dataclass
class Recording:
    """What the model did on one text: per-step states and gates, predictions and losses."""

    ids: np.ndarray  # (N,) the symbols read
    top_ids: np.ndarray  # (N, K) next-symbol ids, most likely first
    top_probs: np.ndarray  # (N, K) their probabilities
    loss: np.ndarray  # (N,) surprisal of each symbol in nats; NaN at 0 (nothing predicted it)
    states: dict[Key, dict[str, np.ndarray]] = field(default_factory=dict)  # (layer, dir) -> kind -> (N, H)

    def names(self) -> dict[str, tuple[int, ...]]:
        """'l{layer}.d{direction}.{kind}' -> shape, for every recorded array."""
        return {
            array_name(key, kind): tuple(values.shape)
            for key, kinds in self.states.items()
            for kind, values in kinds.items()
        }


def array_name(key: Key, kind: str) -> str:
    return f"l{key[0]}.d{key[1]}.{kind}"


def state_kinds(cell: str) -> tuple[str, ...]:
    """The per-unit states a cell keeps: ("h", "c") with a cell state, else ("h",)."""
    return ("h", "c") if get_cell(cell).has_cell_state else ("h",)


def gate_kinds(cell: str) -> tuple[tuple[str, str], ...]:
    """(gate name, activation) of the cell's gates; a 'gate' that is the state itself (the Elman
    RNN's h) is not a gate."""
    spec = get_cell(cell)
    activations = spec.gate_activations or ("",) * len(spec.gate_names)
    return tuple((name, act) for name, act in zip(spec.gate_names, activations) if name not in ("h", "c"))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64 (also right for log-probabilities)."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _one_blas_thread():
    """One BLAS thread while reading: with a batch of 1 each step is a matrix-vector product, which
    threads only slow down (measured 18 ms vs 0.9 ms per 512x2048 product on a busy 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def record(model, ids: np.ndarray, chunk: int = 512, top_k: int = TOP_K) -> Recording:
    """Run a NumPy-engine language model over ids (N,) from a zero state, recording everything."""
    with _one_blas_thread():
        return _record(model, ids, chunk, top_k)


def _record(model, ids: np.ndarray, chunk: int, top_k: int) -> Recording:
    ids = np.asarray(ids, dtype=np.int64)
    was_training = model.training
    model.eval()
    pieces: dict[Key, dict[str, list]] = {}
    tops, probs, losses = [], [], []
    state = None
    previous_log_probs = None  # (V,) the prediction for the first symbol of this chunk
    try:
        for start in range(0, len(ids), chunk):
            inputs = ids[start : start + chunk, None]  # (T, 1)
            logits, state = model.forward(inputs, state, record=True)  # (T, 1, V)
            recorded = model.rnn.recorded  # copies, replaced by the next forward
            state = tuple(np.array(s) for s in state) if isinstance(state, tuple) else np.array(state)
            for key, kinds in recorded.items():
                for kind, values in kinds.items():
                    pieces.setdefault(key, {}).setdefault(kind, []).append(values[:, 0, :])  # (T, H)
            log_probs = _log_softmax(logits[:, 0, :])  # (T, V)
            top = np.argsort(-log_probs, axis=1, kind="stable")[:, :top_k]  # (T, K)
            tops.append(top)
            probs.append(np.exp(np.take_along_axis(log_probs, top, axis=1)))
            targets = inputs[:, 0]
            loss = np.empty(len(targets))
            loss[0] = np.nan if previous_log_probs is None else -previous_log_probs[targets[0]]
            loss[1:] = -log_probs[np.arange(len(targets) - 1), targets[1:]]
            losses.append(loss)
            previous_log_probs = log_probs[-1]
    finally:
        model.train(was_training)
    states = {key: {kind: np.concatenate(parts) for kind, parts in kinds.items()} for key, kinds in pieces.items()}
    return Recording(
        ids=ids,
        states=states,
        top_ids=np.concatenate(tops),
        top_probs=np.concatenate(probs),
        loss=np.concatenate(losses),
    )
