"""charlm: a character-level language model on any UTF-8 text (Karpathy's char-rnn).

Data: a shipped corpus (`--corpus`) or a file (`--text`); optionally its first
`--max-chars` characters and newlines turned into spaces (d2l). The last
`--val-fraction` of the text is held out for validation. Vocabulary = the distinct
characters of the whole text (saved with every checkpoint).

Sampling: `random` windows (state re-initialised per batch) or `consecutive` rows
(state carried across batches, detached), as d2l describes them.

The d2l preset (`--preset d2l`): tanh RNN 256, one-hot input, normal(0, 0.01) weights,
SGD lr 100, clip 0.01, 35 steps, batch 32, consecutive sampling, first 10,000
characters with newlines as spaces, greedy samples after two prefixes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from rnnlab.data import ConsecutiveWindows, RandomWindows, Vocabulary, load_corpus, prepare_chars, read_text_file
from rnnlab.errors import UsageError
from rnnlab.generate import generate
from rnnlab.tasks.options import Options, option
from rnnlab.tasks.lm import LanguageModelTask


@dataclass
class CharLMOptions(Options):
    # the tinyshakespeare default: a 512-unit LSTM on one-hot characters, char-rnn style, tuned to
    # its best validation loss in 30 minutes on 2 cores: short windows (many updates; the state
    # is carried), 64 of them per batch (20% more tokens/s than 32, for about the same loss per
    # epoch), dropout 0.4 before the head and 0.2 on the recurrent weights against overfitting,
    # which lets Adam anneal to zero over 16 epochs instead of overfitting from the 8th (docs/results.md)
    defaults = dict(hidden_size=512, seq_len=25, batch_size=64, lr=3e-3, epochs=16, dropout=0.4,
                    weight_dropout=0.2, schedule="cosine", init_scale=0.01)

    corpus: str = option("tinyshakespeare", "shipped corpus", choices=("tinyshakespeare", "tang300", "warpeace"))
    text: Optional[str] = option(None, "train on this UTF-8 file instead of a shipped corpus")
    max_chars: Optional[int] = option(None, "use only the first N characters")
    newlines: str = option("keep", "keep newlines or turn them into spaces", choices=("keep", "space"))
    val_fraction: float = option(0.1, "the tail of the text held out for validation")
    sampling: str = option("consecutive", "batch sampling", choices=("random", "consecutive"))
    input: str = option("onehot", "input encoding", choices=("onehot", "embedding"))
    embedding_size: int = option(0, "embedding width (0: same as --hidden-size)")
    prefixes: str = option("", "comma-separated prefixes to sample after at each evaluation ('' = a default)")
    sample_length: int = option(200, "characters to generate per sample")
    temperature: float = option(0.8, "sampling temperature for the samples (0: greedy)")

    def validate(self) -> None:
        super().validate()
        if not 0.0 < self.val_fraction < 0.5:
            raise UsageError(f"--val-fraction must be in (0, 0.5), got {self.val_fraction}")
        if self.max_chars is not None and self.max_chars < 2:
            raise UsageError(f"--max-chars must be at least 2, got {self.max_chars}")
        if self.sample_length < 0:
            raise UsageError(f"--sample-length must be >= 0, got {self.sample_length}")
        if self.temperature < 0 or not np.isfinite(self.temperature):
            raise UsageError(f"--temperature must be >= 0 (0: greedy), got {self.temperature}")
        if self.embedding_size < 0:
            raise UsageError(f"--embedding-size must be >= 0 (0: same as --hidden-size), got {self.embedding_size}")


PRESETS = {
    "d2l": dict(cell="rnn", hidden_size=256, input="onehot", init="normal", init_scale=0.01, optimizer="sgd", lr=100.0,
                dropout=0.0, weight_dropout=0.0, schedule="none", clip=0.01, seq_len=35, batch_size=32, sampling="consecutive", epochs=200, eval_every=50,
                max_chars=10000, newlines="space", corpus="tang300", temperature=0.0, sample_length=50,
                val_fraction=0.1),
}


class CharLM(LanguageModelTask):
    """Character-level language model."""

    name = "charlm"
    Options = CharLMOptions
    presets = PRESETS

    def __init__(self, options: CharLMOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        super().__init__(options)
        self.train_ids = self.val_ids = None
        if load_data:
            raw = read_text_file(options.text) if options.text else load_corpus(options.corpus)
            text = prepare_chars(raw, max_chars=options.max_chars, newlines=options.newlines)
            self.vocab = Vocabulary.from_json(vocab_json) if vocab_json else Vocabulary.from_text(text)
            ids = self.vocab.encode(text, unknown="error" if vocab_json is None else "skip")
            split = int(len(ids) * (1 - options.val_fraction))
            self.train_ids, self.val_ids = ids[:split], ids[split:]
            if len(self.val_ids) < 2:
                raise UsageError(f"text too short: {len(ids)} characters leave no validation data; "
                                 f"use a longer text or a larger --val-fraction")
        else:
            self.vocab = Vocabulary.from_json(vocab_json)

    def model_inputs(self) -> Dict[str, Any]:
        return dict(input_size=len(self.vocab), output_size=len(self.vocab))

    def make_sampler(self):
        o = self.options
        kind = RandomWindows if o.sampling == "random" else ConsecutiveWindows
        return kind(self.train_ids, o.seq_len, o.batch_size, rng=np.random.default_rng([o.seed, 1]),
                    **self.data_shard())

    def evaluate(self) -> Dict[str, float]:
        return self.perplexity_metrics("val", self.stream_loss(self.val_ids, self.options.batch_size))

    def held_out_streams(self) -> Dict[str, np.ndarray]:
        return {"val": self.val_ids} if self.val_ids is not None else {}

    def sample_prefixes(self) -> Tuple[str, ...]:
        if self.options.prefixes:
            return tuple(p for p in self.options.prefixes.split(",") if p)
        first = self.vocab.decode(self.train_ids[:1]) if self.train_ids is not None else self.vocab.itos[0]
        return (first,)

    def samples(self, seed: int) -> Dict[str, str]:
        o = self.options
        rng = np.random.default_rng([o.seed, 2, seed])
        return {prefix: generate(self.model, self.vocab, prefix, o.sample_length, temperature=o.temperature,
                                 greedy=o.temperature == 0, rng=rng, unknown="skip")
                for prefix in self.sample_prefixes()}

    def on_evaluation(self, epoch: int, metrics: Dict[str, float], say) -> None:
        for prefix, text in self.samples(epoch).items():
            say(f"  sample [{prefix}]: {text!r}")

    def finish(self, say) -> Dict[str, Any]:
        samples = self.samples(10**6)
        for prefix, text in samples.items():
            say(f"--- sample after {prefix!r} ---\n{text}")
        return {"vocab_size": len(self.vocab), "samples": samples}
