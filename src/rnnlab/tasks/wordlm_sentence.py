"""wordlm-sentence: a word-level language model one sentence at a time (the WildML RNN tutorial).

The train split of the benchmark (words.py) cut into sentences (data/sentences.py:
after every `.`, `!` or `?` token and at every line end -- the benchmark is already
tokenised, so no regex tokeniser is needed; a piece without any letter or digit, like a
closing quote, joins the sentence before it), each wrapped in SENTENCE_START ...
SENTENCE_END; vocabulary = the `--vocab-size` most frequent tokens of the training
sentences + UNKNOWN_TOKEN. One sentence per step (batch 1, T varies), in a fresh
shuffled order every epoch; tanh RNN with 100 units, one-hot input, no biases,
U ~ U(+-1/sqrt(V)), W and V ~ U(+-1/sqrt(H)) (`--init wildml`); plain SGD lr 0.005 on
the gradient of the sentence's *summed* loss (as the tutorial's bptt returns), no
clipping, backprop truncated to 4 steps. The tutorial halves the learning rate when
the loss went up since the last evaluation; here the loss is measured on held-out
sentences of the valid split (`val_loss`, mean per token), which drives the plateau
schedule with factor 0.5.

`rnnlab train wordlm --mode sentence ...` is the old spelling of this task, and runs of
it (task "wordlm", mode "sentence") load, resume, evaluate and generate as this task.

Left out: the tutorial's NumPy/Theano/Keras re-implementations (the engine plays that part).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from rnnlab.data import SentenceSampler, sentence_pairs, sentence_vocabulary, split_tokenised_sentences
from rnnlab.data.text import SENTENCE_START
from rnnlab.engine.losses import softmax_cross_entropy
from rnnlab.errors import UsageError
from rnnlab.tasks.options import option
from rnnlab.tasks.words import SPLITS, WordOptions, WordTask


@dataclass
class WordLMSentenceOptions(WordOptions):
    defaults = dict(
        cell="rnn",
        num_layers=1,
        hidden_size=100,
        dropout=0.0,
        batch_size=1,
        lr=0.005,
        clip=0.0,
        lr_factor=0.5,
        bptt_truncate=4,
        init="wildml",
        input="onehot",
    )
    field_help = dict(batch_size="sentences per step (one: T varies)")
    retired = frozenset(
        {"mode", "max_tokens", "adaptive_softmax"}
    )  # stream settings of old `wordlm --mode sentence` runs

    vocab_size: int = option(8000, "most frequent words kept (+ UNKNOWN_TOKEN)")
    max_sentences: Optional[int] = option(10000, "train on the first N sentences (0: all)")
    eval_sentences: int = option(1000, "held-out sentences for validation and test (0: all)")

    def validate(self) -> None:
        super().validate()
        if self.batch_size != 1:
            raise UsageError(
                f"wordlm-sentence trains one sentence at a time; --batch-size must be 1, got {self.batch_size}"
            )
        if self.vocab_size < 1:
            raise UsageError(f"--vocab-size must be at least 1, got {self.vocab_size}")
        if self.max_sentences is not None and self.max_sentences < 0:
            raise UsageError(f"--max-sentences must be >= 0 (0: all), got {self.max_sentences}")
        if self.eval_sentences < 0:
            raise UsageError(f"--eval-sentences must be >= 0 (0: all), got {self.eval_sentences}")


# the WildML RNN tutorial (RNNNumpy): its defaults, named, so the name keeps meaning the tutorial
PRESETS = {"wildml": dict(WordLMSentenceOptions.defaults)}


class WordLMSentence(WordTask):
    """Word-level language model, one sentence at a time (the WildML RNN tutorial)."""

    name = "wordlm-sentence"
    presets = PRESETS
    Options = WordLMSentenceOptions
    sample_prefix = SENTENCE_START
    reads_stream = False  # no dynamic evaluation: the model never saw text as a stream

    def __init__(
        self, options: WordLMSentenceOptions, vocab_json: Optional[dict] = None, load_data: bool = True
    ) -> None:
        self.pairs: dict[str, list] = {}  # split -> [(x, y), ...]
        super().__init__(options, vocab_json, load_data)

    def load_splits(self, splits: dict[str, list[str]]) -> None:
        o = self.options
        sents = {split: split_tokenised_sentences(lines) for split, lines in splits.items()}
        if o.max_sentences:
            sents["train"] = sents["train"][: o.max_sentences]
        for split in ("valid", "test"):
            if o.eval_sentences:
                sents[split] = sents[split][: o.eval_sentences]
        for split in SPLITS:
            if not sents[split]:
                raise UsageError(f"found no sentences in the {split} split; give it some words")
        if self.vocab is None:
            self.vocab = sentence_vocabulary(sents["train"], o.vocab_size)
        self.pairs = {split: sentence_pairs(s, self.vocab) for split, s in sents.items()}

    def model_inputs(self) -> dict[str, Any]:
        return dict(super().model_inputs(), bias=self.options.init != "wildml")  # the tutorial has no biases

    # -- training ----------------------------------------------------------------------
    def make_sampler(self):
        return SentenceSampler(self.pairs["train"], np.random.default_rng([self.options.seed, 1]))

    def train_step(self, batch) -> tuple[float, int]:
        """Forward and backward one sentence, x and y (T, 1); the gradient is that of the summed loss."""
        x, y = batch
        logits, _ = self.model.forward(x)  # (T, 1, V)
        T, _, V = logits.shape
        loss, d_logits = softmax_cross_entropy(logits.reshape(T, V), y.reshape(-1))  # mean, d mean: (T, V)
        d_logits *= T  # d(sum of the T losses)
        self.model.backward(d_logits.reshape(T, 1, V), bptt_truncate=self.options.bptt_truncate)
        return loss * T, T

    # -- evaluation --------------------------------------------------------------------
    def sentence_loss(self, pairs) -> float:
        """Mean cross-entropy per predicted token over sentences, one at a time."""
        total, count = 0.0, 0
        was_training = self.model.training
        self.model.eval()
        for x, y in pairs:
            logits, _ = self.model.forward(x[:, None])  # (T, 1, V)
            loss, _ = softmax_cross_entropy(logits.reshape(len(x), -1), y, need_grad=False)
            total, count = total + loss * len(x), count + len(x)
        self.model.train(was_training)
        return total / max(count, 1)

    def split_loss(self, split: str) -> float:
        return self.sentence_loss(self.pairs[split])


__all__ = ["WordLMSentence", "WordLMSentenceOptions"]
