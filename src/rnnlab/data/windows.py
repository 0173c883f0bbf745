"""Strided windows with one next-token target each, as the Keras text-generation example cuts its text.

The example (lstm_text_generation.py) takes a window of `maxlen` characters every `step`
characters and the one character after it::

    sentences  = [text[i : i + maxlen] for i in range(0, len(text) - maxlen, step)]
    next_chars = [text[i + maxlen]     for i in range(0, len(text) - maxlen, step)]

and `model.fit(..., shuffle=True)` deals all of them in a fresh random order each epoch,
`batch_size` at a time, the last batch holding what is left::

    stream   a b c d e f g h i j k l m n o p ...        seq_len 4, step 3
    window 0 [a b c d] -> e
    window 1       [d e f g] -> h
    window 2             [g h i j] -> k                  (windows overlap when step < seq_len)
    shuffle  w2 w0 w5 w1 w4 w3 ...; batch = B of them as columns
    X (T, B) the windows, Y (B,) their next tokens

Every window is a sequence of its own: the caller starts each from a zero state
(`carries_state` is False) and scores only the last step (many-to-one).

Resumable like the samplers in samplers.py: `state()` is the epoch, the batch and the RNG
state the epoch's order was drawn from; `set_state()` re-draws the order and skips ahead.

    >>> s = StridedWindows(np.arange(20), seq_len=4, batch_size=3, step=3, rng=0)
    >>> len(s.window_starts()), len(s)          # range(0, 16, 3) -> 6 windows, 2 batches
    (6, 2)
    >>> X, Y = next(s.epoch()); X.shape, bool((Y == X[-1] + 1).all())
    ((4, 3), True)

Left out: data-parallel shards (a smaller last batch does not split evenly).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.data.samplers import Batch, RngLike, _EpochSampler, _positive
from rnnlab.errors import UsageError

__all__ = ["StridedWindows"]


class StridedWindows(_EpochSampler):
    """Windows of `seq_len` tokens every `step` tokens, shuffled each epoch; X (T, B), Y (B,) next tokens."""

    kind = "windows"
    carries_state = False

    def __init__(
        self, ids: Any, seq_len: int, batch_size: int, step: int = 3, rng: RngLike = None, shuffle: bool = True
    ) -> None:
        self.step = _positive(step, "--window-step")
        self.shuffle = shuffle  # False: text order (held-out data)
        super().__init__(ids, seq_len, batch_size, rng)

    def _check_length(self) -> None:
        if len(self.stream) <= self.seq_len:
            raise UsageError(
                f"text too short for one window: --seq-len {self.seq_len} needs at least "
                f"{self.seq_len + 1:,} tokens (a window and its next token), got {len(self.stream):,}"
            )

    def window_starts(self) -> np.ndarray:
        """Stream positions of every window, in text order: range(0, N - seq_len, step), (W,)."""
        return np.arange(0, len(self.stream) - self.seq_len, self.step)

    def __len__(self) -> int:
        return -(-len(self.window_starts()) // self.batch_size)  # ceil(W / B): the last batch is smaller

    def _draw(self) -> np.ndarray:
        count = len(self.window_starts())
        return self.rng.permutation(count) if self.shuffle else np.arange(count)  # (W,) this epoch's order

    def _starts(self, plan: np.ndarray, i: int) -> np.ndarray:
        B = self.batch_size
        return plan[i * B : (i + 1) * B] * self.step  # (B,) or fewer in the last batch

    def batch(self, i: int) -> Batch:
        """Batch i of the current epoch: X (T, B') windows as columns, Y (B',) the token after each."""
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} is past the end ({len(self)} batches)")
        self._ensure_plan()
        starts = self._starts(self._plan, i)  # (B',)
        idx = starts[None, :] + np.arange(self.seq_len)[:, None]  # (T, B')
        return self.stream[idx], self.stream[starts + self.seq_len]  # (T, B'), (B',)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "step": self.step}

    def set_state(self, d: dict[str, Any]) -> None:
        if isinstance(d, dict) and d.get("kind") == self.kind and d.get("step") != self.step:
            raise UsageError(
                f"saved data position has window step {d.get('step')!r} but this run has {self.step}; "
                f"resume with the same --window-step as the original run"
            )
        super().set_state(d)
