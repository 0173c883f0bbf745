"""charlm: a character-level language model on any UTF-8 text (Karpathy's char-rnn).

Data: a shipped corpus (`--corpus`) or a file (`--text`); optionally its first
`--max-chars` characters and newlines turned into spaces (d2l). The last
`--val-fraction` of the text is held out for validation. Vocabulary = the distinct
characters of the whole text (saved with every checkpoint); `--val-fraction 0` trains
on all of it (the evaluations then report the training perplexity alone).

Sampling: `random` windows (state re-initialised per batch) or `consecutive` rows
(state carried across batches, detached), as d2l describes them; `--offset 0` starts
the consecutive rows at 0 every epoch, as the Chinese edition's sampler does.

`--preset d2l` is d2l's RNN chapter (Chinese edition, consecutive sampling) step for step:
the first 10,000 characters with newlines as spaces, all of them trained on; a tanh RNN
of 256 units on one-hot characters with one bias b_h (`--no-hidden-bias`) and the head's
b_q; the weights drawn as the book's get_params draws them (`--init d2l`); the loss the
mean over all T*B predictions; the state zero at each epoch's start and detached between
batches; the global norm of all gradients clipped to 0.01 by theta / norm (`--clip-eps 0`);
SGD lr 100 for 200 epochs; every 50 epochs the book's lines::

    epoch 50, perplexity 123.456789       exp(sum of the epoch's batch losses / batches)
     - 相见...                              greedy 50-character continuation of each prefix

The book's lyrics are not shipped: the preset reads the shipped Tang poems, whose
"相见" / "不相见" stand in for the book's "分开" / "不分开" (`--prefixes` to change them).
tests/test_charlm_presets.py checks every printed number against a NumPy transcription
of the book's program (tests/oracles/d2l.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from rnnlab.data import ConsecutiveWindows, RandomWindows, Vocabulary, load_corpus, prepare_chars, read_text_file
from rnnlab.errors import UsageError
from rnnlab.generate import generate
from rnnlab.tasks.lm import LanguageModelTask
from rnnlab.tasks.options import Options, option


@dataclass
class CharLMOptions(Options):
    # the tinyshakespeare default: a 512-unit LSTM on one-hot characters, char-rnn style, tuned to
    # its best validation loss in 30 minutes on 2 cores: short windows (many updates; the state
    # is carried), 64 of them per batch (20% more tokens/s than 32, for about the same loss per
    # epoch), dropout 0.4 before the head and 0.2 on the recurrent weights against overfitting,
    # which lets Adam anneal to zero over 16 epochs instead of overfitting from the 8th (docs/results.md)
    defaults = dict(
        hidden_size=512,
        seq_len=25,
        batch_size=64,
        lr=3e-3,
        epochs=16,
        dropout=0.4,
        weight_dropout=0.2,
        schedule="cosine",
        init_scale=0.01,
    )

    corpus: str = option("tinyshakespeare", "shipped corpus", choices=("tinyshakespeare", "tang300", "warpeace"))
    text: Optional[str] = option(None, "train on this UTF-8 file instead of a shipped corpus")
    max_chars: Optional[int] = option(None, "use only the first N characters")
    newlines: str = option("keep", "keep newlines or turn them into spaces", choices=("keep", "space"))
    val_fraction: float = option(0.1, "the tail of the text held out for validation (0: train on all of it)")
    sampling: str = option("consecutive", "batch sampling", choices=("random", "consecutive"))
    offset: str = option(
        "random",
        "consecutive sampling: each epoch's rows start at a random offset in "
        "[0, --seq-len) (d2l.ai), or at 0 (d2l's Chinese edition)",
        choices=("random", "0"),
    )
    input: str = option("onehot", "input encoding", choices=("onehot", "embedding"))
    embedding_size: int = option(0, "embedding width (0: same as --hidden-size)")
    prefixes: str = option("", "comma-separated prefixes to sample after at each evaluation ('' = a default)")
    sample_length: int = option(200, "characters to generate per sample")
    temperature: float = option(0.8, "sampling temperature for the samples (0: greedy)")
    report: str = option(
        "rnnlab",
        "what each evaluation prints: rnnlab's samples, or d2l's lines "
        "('epoch N, perplexity P', ' - ' + prefix and continuation)",
        choices=("rnnlab", "d2l"),
    )

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.val_fraction < 0.5:
            raise UsageError(f"--val-fraction must be in [0, 0.5) (0: no validation), got {self.val_fraction}")
        if self.max_chars is not None and self.max_chars < 2:
            raise UsageError(f"--max-chars must be at least 2, got {self.max_chars}")
        if self.sample_length < 0:
            raise UsageError(f"--sample-length must be >= 0, got {self.sample_length}")
        if self.temperature < 0 or not np.isfinite(self.temperature):
            raise UsageError(f"--temperature must be >= 0 (0: greedy), got {self.temperature}")
        if self.embedding_size < 0:
            raise UsageError(f"--embedding-size must be >= 0 (0: same as --hidden-size), got {self.embedding_size}")


PRESETS = {
    # d2l's RNN chapter (Chinese edition), consecutive sampling, every setting of its program
    "d2l": dict(
        cell="rnn",
        hidden_size=256,
        input="onehot",
        hidden_bias=False,
        init="d2l",
        init_scale=0.01,
        optimizer="sgd",
        lr=100.0,
        dropout=0.0,
        weight_dropout=0.0,
        schedule="none",
        clip=0.01,
        clip_eps=0.0,
        seq_len=35,
        batch_size=32,
        sampling="consecutive",
        offset="0",
        epochs=200,
        eval_every=50,
        max_chars=10000,
        newlines="space",
        corpus="tang300",
        val_fraction=0.0,
        prefixes="相见,不相见",
        temperature=0.0,
        sample_length=50,
        report="d2l",
    ),
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
            self.train_ids, self.val_ids = ids[:split], (ids[split:] if options.val_fraction else None)
            if self.val_ids is not None and len(self.val_ids) < 2:
                raise UsageError(
                    f"text too short: {len(ids)} characters leave no validation data; "
                    f"use a longer text or a larger --val-fraction"
                )
        else:
            if vocab_json is None:
                raise UsageError("a charlm task without its data needs the saved vocabulary")
            self.vocab = Vocabulary.from_json(vocab_json)

    def model_inputs(self) -> dict[str, Any]:
        return dict(input_size=len(self.vocab), output_size=len(self.vocab))

    def make_sampler(self):
        o = self.options
        kind = RandomWindows if o.sampling == "random" else ConsecutiveWindows
        fixed = {"offset": int(o.offset)} if o.sampling == "consecutive" and o.offset != "random" else {}
        return kind(
            self.train_ids,
            o.seq_len,
            o.batch_size,
            rng=np.random.default_rng([o.seed, 1]),
            **fixed,
            **self.data_shard(),
        )

    def evaluate(self) -> dict[str, float]:
        if self.val_ids is None:
            return {}
        return self.perplexity_metrics("val", self.stream_loss(self.val_ids, self.options.batch_size))

    def held_out_streams(self) -> dict[str, np.ndarray]:
        return {"val": self.val_ids} if self.val_ids is not None else {}

    def sample_prefixes(self) -> tuple[str, ...]:
        if self.options.prefixes:
            return tuple(p for p in self.options.prefixes.split(",") if p)
        first = self.vocab.decode(self.train_ids[:1]) if self.train_ids is not None else self.vocab.itos[0]
        return (first,)

    def samples(self, seed: int) -> dict[str, str]:
        o = self.options
        rng = np.random.default_rng([o.seed, 2, seed])
        return {
            prefix: generate(
                self.model,
                self.vocab,
                prefix,
                o.sample_length,
                temperature=o.temperature,
                greedy=o.temperature == 0,
                rng=rng,
                unknown="skip",
            )
            for prefix in self.sample_prefixes()
        }

    def on_evaluation(self, epoch: int, metrics: dict[str, float], say) -> None:
        if self.options.report == "d2l":
            for line in self.d2l_lines(epoch):
                say(line)
            return
        for prefix, text in self.samples(epoch).items():
            say(f"  sample [{prefix}]: {text!r}")

    def d2l_lines(self, epoch: int) -> tuple[str, ...]:
        """The book's lines: `epoch N, perplexity P` (P = exp(sum of this epoch's batch losses /
        batches), as its train_and_predict_rnn prints it), then ` - ` + each prefix and its continuation."""
        perplexity = math.exp(self.epoch_loss_sum / max(self.epoch_batches, 1))
        return (f"epoch {epoch}, perplexity {perplexity:f}", *(f" - {text}" for text in self.samples(epoch).values()))

    def finish(self, say) -> dict[str, Any]:
        if self.options.report == "d2l":  # the book prints nothing after its last report
            return {"vocab_size": len(self.vocab), "samples": self.samples(10**6)}
        samples = self.samples(10**6)
        for prefix, text in samples.items():
            say(f"--- sample after {prefix!r} ---\n{text}")
        return {"vocab_size": len(self.vocab), "samples": samples}
