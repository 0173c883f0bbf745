"""The Keras text-generation example's report: after each epoch, text at four temperatures.

What lstm_text_generation.py prints after every epoch: Keras's epoch line and its final
progress-bar line (the bar and timings left out; the loss is the epoch's mean over windows,
as Keras averages it), then its `on_epoch_end`, whose epoch counts from 0, for a seed window
starting at a random index of the text::

    Epoch 1/60
    2905/2905 - loss: 1.8255

    ----- Generating text after Epoch: 0
    ----- diversity: 0.2
    ----- Generating with seed: "<the 40 seed characters>"
    <the 40 seed characters><400 generated characters>
    ----- diversity: 0.5
    ...

Each character is predicted from the last `maxlen` characters alone (a one-hot window
through the many-to-one model from a zero state, as `model.predict` on that window does)
and drawn by the example's `sample`: log(p) / temperature, exp, normalise, one
multinomial draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnlab.data import Vocabulary
from rnnlab.engine.losses import softmax
from rnnlab.errors import UsageError


def parse_temperatures(text: str) -> tuple[float, ...]:
    """'0.2,0.5,1.0,1.2' -> (0.2, 0.5, 1.0, 1.2); UsageError unless each is a positive number."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--temperatures must be comma-separated positive numbers, got {text!r}") from None
    if not values or not all(v > 0 and np.isfinite(v) for v in values):
        raise UsageError(f"--temperatures must be comma-separated positive numbers, got {text!r}")
    return values


def keras_sample(preds: np.ndarray, temperature: float, rng) -> int:
    """The example's `sample(preds, temperature)`: an index drawn from p^(1/T), renormalised.

    `rng` is anything with `multinomial(n, pvals, size)` (a numpy Generator or RandomState).
    """
    preds = np.asarray(preds).astype("float64")  # (V,)
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = rng.multinomial(1, preds, 1)  # (1, V): one draw
    return int(np.argmax(probas))


def next_char_probabilities(model, window: np.ndarray) -> np.ndarray:
    """The model's softmax after a window of ids (T,), from a zero state: (V,) in the model's dtype."""
    logits, _ = model.forward(window[:, None])  # (T, 1, V)
    return softmax(logits[-1, 0])  # (V,)


def generate_from_window(model, vocab: Vocabulary, seed: str, length: int, temperature: float, rng, maxlen: int) -> str:
    """`length` characters after `seed`, each sampled from the last `maxlen` characters alone."""
    ids = list(vocab.encode(seed))
    out = []
    for _ in range(length):
        window = np.asarray(ids[-maxlen:], dtype=np.int64)  # (maxlen,)
        next_id = keras_sample(next_char_probabilities(model, window), temperature, rng)
        ids.append(next_id)
        out.append(vocab.itos[next_id])
    return "".join(out)


def keras_lines(
    model,
    vocab: Vocabulary,
    text: str,
    epoch: int,
    temperatures: Sequence[float],
    length: int,
    maxlen: int,
    rng: np.random.Generator,
) -> list[str]:
    """The example's lines after `epoch` (counted from 1 here, printed from 0 as Keras's callback does)."""
    if len(text) <= maxlen:
        raise UsageError(f"text too short for a seed: it needs more than --seq-len {maxlen} characters")
    start_index = int(rng.integers(0, len(text) - maxlen))  # random.randint(0, len(text) - maxlen - 1)
    was_training = model.training
    model.eval()
    lines = [f"----- Generating text after Epoch: {epoch - 1}"]
    for diversity in temperatures:
        sentence = text[start_index : start_index + maxlen]
        lines.append(f"----- diversity: {diversity}")
        lines.append('----- Generating with seed: "' + sentence + '"')
        lines.append(sentence + generate_from_window(model, vocab, sentence, length, diversity, rng, maxlen))
    model.train(was_training)
    return lines
