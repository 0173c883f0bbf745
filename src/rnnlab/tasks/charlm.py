"""charlm: a character-level language model on any UTF-8 text (Karpathy's char-rnn).

Data: a shipped corpus (`--corpus`) or a file (`--text`); optionally its first
`--max-chars` characters and newlines turned into spaces (d2l). The last
`--val-fraction` of the text is held out for validation. Vocabulary = the distinct
characters of the whole text (saved with every checkpoint); `--val-fraction 0` trains
on all of it (the evaluations then report the training perplexity alone).

Sampling: `random` windows (state re-initialised per batch) or `consecutive` rows
(state carried across batches, detached), as d2l describes them; `--offset 0` starts
the consecutive rows at 0 every epoch, as the Chinese edition's sampler does; or `windows`
(data/windows.py): a window every `--window-step` characters, scored on its one next character.

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

`--preset keras` is the Keras text-generation example (lstm_text_generation.py) setting for
setting: the text lowercased (`--lowercase`), all of it trained on; windows of 40 characters
every 3 (`--sampling windows --window-step 3`), shuffled each epoch, 128 per batch, the last
batch smaller; LSTM(128) on one-hot characters from a zero state per window with one bias,
Keras's initialisation (`--init keras`: glorot_uniform kernels, orthogonal W_hh, forget bias
1) and a softmax head read at the last step only (many-to-one: the mean cross-entropy of each
window's next character); RMSprop lr 0.01, rho 0.9, epsilon 1e-7 (`--rmsprop-alpha 0.9
--rmsprop-eps 1e-7`), no clipping, 60 epochs; after each the example's lines (`--report keras`):
the loss, then for each diversity 0.2, 0.5, 1.0, 1.2 (`--temperatures`) 400 characters after
a seed window at a random start, each sampled from the last 40 characters alone. Faithful,
not proved exact: Keras is not at hand to compare with, and its random draws differ from ours.
RMSprop is Keras 2's (epsilon outside the square root, as the example's Keras had it; tf.keras
and Keras 3 put it inside). The example reads Nietzsche, which is not shipped: the preset reads
tinyshakespeare, lowercased (39 distinct characters); `--text nietzsche.txt` reads the original.
tests/test_charlm_keras.py checks each part against a transcription of the example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from rnnlab.data import (
    ConsecutiveWindows,
    RandomWindows,
    StridedWindows,
    Vocabulary,
    load_corpus,
    prepare_chars,
    read_text_file,
)
from rnnlab.errors import UsageError
from rnnlab.generate import generate
from rnnlab.models import last_step_loss
from rnnlab.tasks.charlm_keras import keras_lines, parse_temperatures
from rnnlab.tasks.lm import LanguageModelTask
from rnnlab.tasks.options import Options, option


@dataclass
class CharLMOptions(Options):
    # the tinyshakespeare default: a 512-unit LSTM on one-hot characters, char-rnn style, tuned to
    # its best validation loss in 30 minutes on 2 cores: short windows (many updates; the state
    # is carried), 64 of them per batch (20% more tokens/s than 32, for about the same loss per
    # epoch), dropout 0.4 before the head and 0.2 on the recurrent weights against overfitting,
    # which lets Adam anneal to zero over 16 epochs instead of overfitting from the 8th (docs/results.md);
    # under --schedule cosine-time with no --epochs the run lasts the whole --minutes budget instead
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
    lowercase: bool = option(False, "lowercase the text first (the Keras example's text.lower())")
    val_fraction: float = option(0.1, "the tail of the text held out for validation (0: train on all of it)")
    sampling: str = option(
        "consecutive",
        "batch sampling: random or consecutive windows scored at every step; or windows of --seq-len "
        "every --window-step characters, shuffled, each scored on its one next character (many-to-one, Keras)",
        choices=("random", "consecutive", "windows"),
    )
    window_step: int = option(3, "windows sampling: characters between window starts")
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
    temperatures: str = option("0.2,0.5,1.0,1.2", "keras report: the comma-separated diversities of each epoch's text")
    report: str = option(
        "rnnlab",
        "what each evaluation prints: rnnlab's samples, d2l's lines "
        "('epoch N, perplexity P', ' - ' + prefix and continuation), or the Keras example's "
        "(the loss, then --sample-length characters per --temperatures from a random seed window)",
        choices=("rnnlab", "d2l", "keras"),
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
        if isinstance(self.window_step, bool) or not isinstance(self.window_step, int) or self.window_step < 1:
            raise UsageError(f"--window-step must be a positive integer, got {self.window_step!r}")
        parse_temperatures(self.temperatures)
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
    # the Keras text-generation example (lstm_text_generation.py), every setting of its program
    "keras": dict(
        cell="lstm",
        hidden_size=128,
        input="onehot",
        hidden_bias=False,
        init="keras",
        optimizer="rmsprop",
        lr=0.01,
        rmsprop_alpha=0.9,
        rmsprop_eps=1e-7,
        dropout=0.0,
        weight_dropout=0.0,
        schedule="none",
        clip=0.0,
        seq_len=40,
        window_step=3,
        batch_size=128,
        sampling="windows",
        epochs=60,
        eval_every=1,
        corpus="tinyshakespeare",
        lowercase=True,
        val_fraction=0.0,
        temperatures="0.2,0.5,1.0,1.2",
        sample_length=400,
        report="keras",
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
        self.train_text = ""
        if load_data:
            raw = read_text_file(options.text) if options.text else load_corpus(options.corpus)
            text = prepare_chars(
                raw, max_chars=options.max_chars, newlines=options.newlines, lowercase=options.lowercase
            )
            self.vocab = Vocabulary.from_json(vocab_json) if vocab_json else Vocabulary.from_text(text)
            ids = self.vocab.encode(text, unknown="error" if vocab_json is None else "skip")
            split = int(len(ids) * (1 - options.val_fraction))
            self.train_ids, self.val_ids = ids[:split], (ids[split:] if options.val_fraction else None)
            self.train_text = self.vocab.decode(self.train_ids)  # the Keras report's seed windows come from it
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
        if o.sampling == "windows":
            if self.data_shard():
                raise UsageError("--sampling windows trains in one process; its last batch does not split over ranks")
            return StridedWindows(
                self.train_ids, o.seq_len, o.batch_size, o.window_step, rng=np.random.default_rng([o.seed, 1])
            )
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

    def window_loss(self, inputs: np.ndarray, targets: np.ndarray, state, need_grad: bool):
        if targets.ndim == 1:  # windows sampling: one next character per window, the last step scored
            return last_step_loss(self.model, inputs, targets, state, need_grad, self.options.bptt_truncate)
        return super().window_loss(inputs, targets, state, need_grad)

    def evaluate(self) -> dict[str, float]:
        if self.val_ids is None:
            return {}
        o = self.options
        if o.sampling == "windows" and len(self.val_ids) > o.seq_len:  # the same many-to-one loss, in text order
            windows = StridedWindows(self.val_ids, o.seq_len, o.batch_size, o.window_step, shuffle=False)
            total = count = 0
            for inputs, targets in windows.epoch():
                loss, _ = self.window_loss(inputs, targets, None, need_grad=False)
                total, count = total + loss * targets.size, count + targets.size
            return self.perplexity_metrics("val", total / count)
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
        o = self.options
        if o.report == "keras":
            batches = len(self._sampler) if getattr(self, "_sampler", None) is not None else 0
            say(f"Epoch {epoch}/{o.epochs}")
            say(f"{batches}/{batches} - loss: {metrics['train_loss']:.4f}")
            say("")
            rng = np.random.default_rng([o.seed, 3, epoch])  # the same text after a resume
            temperatures = parse_temperatures(o.temperatures)
            for line in keras_lines(
                self.model, self.vocab, self.train_text, epoch, temperatures, o.sample_length, o.seq_len, rng
            ):
                say(line)
            return
        if o.report == "d2l":
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
        if self.options.report == "keras":  # the example prints nothing after its last epoch's text
            return {"vocab_size": len(self.vocab)}
        if self.options.report == "d2l":  # the book prints nothing after its last report
            return {"vocab_size": len(self.vocab), "samples": self.samples(10**6)}
        samples = self.samples(10**6)
        for prefix, text in samples.items():
            say(f"--- sample after {prefix!r} ---\n{text}")
        return {"vocab_size": len(self.vocab), "samples": samples}
