"""wordlm: a word-level language model, two ways (SEEDS §3 and pytorch/examples).

`--mode stream` (default) is PyTorch's word_language_model example on a PTB-style
benchmark: the shipped `warpeace-words` (`--corpus`) or `--data DIR` holding
train.txt / valid.txt / test.txt. Every line's words, then `<eos>`; vocabulary =
the words of train (10,001 for warpeace-words) plus `<unk>` if train lacks it, so
unseen words in valid/test map to it. Train is `batchify`-ed into `--batch-size`
columns and read in `--bptt` windows, the hidden state carried (detached) from
window to window and reset at the start of each epoch, as the example does::

    train ids --batchify--> (N/B, B) --BpttWindows--> X, Y (T, B) ... state carried

Validation and test: the same on valid / test with 10 columns (the example's
eval_batch_size); perplexity = exp(mean cross-entropy per token, `<eos>` included).
Defaults are the example's: 2-layer LSTM 200 on a 200-wide embedding, dropout 0.2,
SGD lr 20, clip 0.25, bptt 35, batch 20, lr / 4 whenever validation loss does not
improve; embedding and head weights U(-0.1, 0.1), head bias 0, the LSTM keeps
PyTorch's default init (`--init example`). 6 epochs (the example runs 40).
`--preset better`: tied weights and locked dropout on a wider model, batch 10, an adaptive
softmax head, lr annealed over 6 epochs.

`--mode sentence` is the WildML RNN tutorial: the train split cut into sentences
(after every `.`, `!` or `?` token and at every line end -- the benchmark is
already tokenised, so no regex tokeniser is needed; a piece without any letter or
digit, like a closing quote, joins the sentence before it), each wrapped in
SENTENCE_START ... SENTENCE_END; vocabulary = the `--vocab-size` most frequent
tokens of the training sentences + UNKNOWN_TOKEN. One sentence per step (batch 1,
T varies), in a fresh shuffled order every epoch; tanh RNN with 100 units, one-hot
input, no biases, U ~ U(+-1/sqrt(V)), W and V ~ U(+-1/sqrt(H)) (`--init wildml`);
plain SGD lr 0.005 on the gradient of the sentence's *summed* loss (as the
tutorial's bptt returns), no clipping, backprop truncated to 4 steps. The tutorial
halves the learning rate when the loss went up since the last evaluation; here
the loss is measured on held-out sentences of the valid split (`val_loss`, mean
per token), which drives the plateau schedule with factor 0.5.

Options left at None take their mode's default (MODE_DEFAULTS), so `--mode
sentence` alone gives the tutorial's settings and any flag still overrides them.

`--adaptive-softmax 2000` (stream mode, NumPy engine) replaces the full softmax head with an
adaptive one (Grave et al. 2017; engine/adaptive.py): the 2,000 most frequent words (91% of
the benchmark's training tokens) and one cluster token in the head, the other 8,001 words
in a tail scored only for the tokens that need it. The vocabulary is sorted by falling
count, so a cutoff is a frequency rank. It ties like the full head.

Left out: the example's Transformer model, the tutorial's NumPy/Theano/Keras
re-implementations (the engine plays that part here).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from rnnlab.data import (EOS, BpttWindows, Vocabulary, batchify, load_word_splits, ptb_tokens, read_text_file,
                         sentence_pairs, sentence_vocabulary)
from rnnlab.data.text import SENTENCE_END, SENTENCE_START
from rnnlab.engine.losses import softmax_cross_entropy
from rnnlab.errors import UsageError
from rnnlab.generate import generate
from rnnlab.models import ModelConfig
from rnnlab.tasks.base import SCHEDULE_HELP, SCHEDULES, CommonOptions, option
from rnnlab.tasks.lm import LanguageModelTask

UNK = "<unk>"  # the benchmark's own unknown-word token
EVAL_BATCH_SIZE = 10  # the example's eval_batch_size (validation and test columns)
SPLITS = ("train", "valid", "test")
_END_MARKS = frozenset((".", "!", "?"))
_HAS_WORD = re.compile(r"\w")

# What each mode fills in for options left at None.
MODE_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "stream": dict(cell="lstm", layers=2, hidden=200, dropout=0.2, batch_size=20, lr=20.0, clip=0.25,
                   lr_factor=0.25, init="example", input="embedding"),
    "sentence": dict(cell="rnn", layers=1, hidden=100, dropout=0.0, batch_size=1, lr=0.005, clip=0.0,
                     lr_factor=0.5, bptt_truncate=4, init="wildml", input="onehot"),
}


@dataclass
class WordLMOptions(CommonOptions):
    mode: str = option("stream", "stream: PTB-style truncated BPTT (pytorch example); sentence: WildML",
                       choices=("stream", "sentence"))
    corpus: str = option("warpeace-words", "shipped word benchmark", choices=("warpeace-words",))
    data: Optional[str] = option(None, "folder with train.txt, valid.txt, test.txt instead of --corpus")
    max_tokens: Optional[int] = option(None, "stream: train on the first N training tokens only")
    vocab_size: int = option(8000, "sentence: most frequent words kept (+ UNKNOWN_TOKEN)")
    max_sentences: Optional[int] = option(10000, "sentence: train on the first N sentences (0: all)")
    eval_sentences: int = option(1000, "sentence: held-out sentences for validation and test (0: all)")
    input: Optional[str] = option(None, "input encoding (stream: embedding, sentence: onehot)",
                                  choices=("onehot", "embedding"))
    embedding_size: int = option(0, "embedding width (0: same as --hidden)")
    tied: bool = option(False, "tie the embedding and the output head (one array); with --embedding-size "
                               "other than --hidden, a bias-free hidden -> embedding layer comes before the head")
    locked_dropout: bool = option(False, "the same dropout mask at every time step")
    adaptive_softmax: str = option("", "stream: comma-separated cutoffs of an adaptive softmax head, e.g. 2000 "
                                       "(the 2,000 most frequent words, then the rest as one cluster); '' = full "
                                       "softmax")
    init: Optional[str] = option(None, "weight init (stream: example, sentence: wildml)",
                                 choices=("example", "wildml", "pytorch", "normal", "uniform", "orthogonal"))
    init_scale: float = option(0.1, "bound of U(-s, s) for --init example/uniform, std for normal")
    sample_length: int = option(20, "words to generate after each evaluation (0: none)")
    temperature: float = option(1.0, "sampling temperature for those samples")
    # the mode's default (MODE_DEFAULTS) when left at None
    cell: Optional[str] = option(None, "recurrent cell (stream: lstm, sentence: rnn)", choices=("rnn", "lstm", "gru"))
    layers: Optional[int] = option(None, "recurrent layers (stream: 2, sentence: 1)")
    hidden: Optional[int] = option(None, "hidden units per layer (stream: 200, sentence: 100)")
    dropout: Optional[float] = option(None, "dropout (stream: 0.2, sentence: 0)")
    batch_size: Optional[int] = option(None, "columns (stream: 20; sentence: 1, one sentence per step)")
    lr: Optional[float] = option(None, "learning rate (stream: 20, sentence: 0.005)")
    clip: Optional[float] = option(None, "clip gradients to this global L2 norm, 0: off (stream: 0.25, sentence: 0)")
    lr_factor: Optional[float] = option(None, "plateau: lr factor when validation stalls (stream: 0.25, sentence: 0.5)")
    bptt_truncate: Optional[int] = option(None, "gradients flow back at most K steps (stream: no limit, sentence: 4)")
    # the same in both modes
    optimizer: str = option("sgd", "optimiser", choices=("sgd", "adam", "rmsprop", "adagrad"))
    schedule: str = option("plateau", SCHEDULE_HELP, choices=SCHEDULES)
    epochs: int = option(6, "training epochs")
    seq_len: int = option(35, "stream: time steps per training window", aliases=("--bptt",))

    def __post_init__(self) -> None:
        if self.mode not in MODE_DEFAULTS:
            raise UsageError(f"--mode must be stream or sentence, got {self.mode!r}")
        for name, value in MODE_DEFAULTS[self.mode].items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def validate(self) -> None:
        super().validate()
        if self.mode == "sentence" and self.batch_size != 1:
            raise UsageError(f"--mode sentence trains one sentence at a time; --batch-size must be 1, "
                             f"got {self.batch_size}")
        if self.max_tokens is not None and self.max_tokens < 2:
            raise UsageError(f"--max-tokens must be at least 2, got {self.max_tokens}")
        if self.vocab_size < 1:
            raise UsageError(f"--vocab-size must be at least 1, got {self.vocab_size}")
        if self.max_sentences is not None and self.max_sentences < 0:
            raise UsageError(f"--max-sentences must be >= 0 (0: all), got {self.max_sentences}")
        if self.eval_sentences < 0:
            raise UsageError(f"--eval-sentences must be >= 0 (0: all), got {self.eval_sentences}")
        if self.sample_length < 0:
            raise UsageError(f"--sample-length must be >= 0, got {self.sample_length}")
        if self.temperature < 0:
            raise UsageError(f"--temperature must be >= 0 (0: greedy), got {self.temperature}")
        if not self.init_scale > 0:
            raise UsageError(f"--init-scale must be positive, got {self.init_scale}")
        if self.tied and self.input != "embedding":
            raise UsageError("--tied needs --input embedding")
        if self.adaptive_cutoffs and self.mode != "stream":  # (reading the cutoffs checks they are numbers)
            raise UsageError("--adaptive-softmax needs --mode stream (sentence mode trains through full logits)")

    @property
    def adaptive_cutoffs(self) -> Tuple[int, ...]:
        """--adaptive-softmax as integers (the model checks them against the vocabulary)."""
        try:
            return tuple(int(part) for part in self.adaptive_softmax.split(",") if part.strip())
        except ValueError:
            raise UsageError(f"--adaptive-softmax takes comma-separated word counts such as 2000 or 2000,6000; "
                             f"got {self.adaptive_softmax!r}") from None


PRESETS = {
    # tied embedding/head (Press & Wolf; Inan et al.) and locked dropout (Gal & Ghahramani) on a
    # wider 2-layer LSTM (hidden 256; the tied head is the same 10k x 256 matrix as the embedding);
    # dropout 0.1, because in this time the model underfits (test ppl at dropout 0.3 / 0.2 / 0.1 / 0:
    # 108.7 / 102.0 / 99.6 / 101.6; docs/results.md); batch 10, because twice the updates per epoch gain more
    # than the 17% of tokens/s they cost (docs/results.md: batch 40 / 20 / 10 / 7); an adaptive softmax
    # (2,000-word shortlist), 1.4x the tokens/s of the full head at about the same validation ppl per epoch,
    # so lr 20 annealed to 0 over 6 epochs (cosine) fits the example's 6-epoch time here, where the
    # full head was cut 4.2-4.4 epochs into a 5-epoch cosine
    "better": dict(mode="stream", hidden=256, embedding_size=0, tied=True, locked_dropout=True, dropout=0.1,
                   schedule="cosine", epochs=6, batch_size=10, adaptive_softmax="2000"),
}


# -- data ------------------------------------------------------------------------------

def read_splits(options: WordLMOptions) -> Dict[str, List[str]]:
    """Lines per split: the shipped benchmark, or train/valid/test.txt of `--data`."""
    if options.data is None:
        return load_word_splits(options.corpus)
    folder = Path(options.data)
    if not folder.is_dir():
        raise UsageError(f"--data {str(folder)!r} is not a folder; give a folder holding "
                         f"train.txt, valid.txt and test.txt")
    return {split: read_text_file(folder / f"{split}.txt").splitlines() for split in SPLITS}


def split_tokenised_sentences(lines: Sequence[str]) -> List[List[str]]:
    """Sentences of already tokenised lines, wrapped in SENTENCE_START ... SENTENCE_END.

    A sentence ends after a ".", "!" or "?" token (and the quotes or brackets that
    close it) and at the end of a line; a piece with no letter or digit in it joins
    the sentence before it.

        >>> split_tokenised_sentences(['" hello ! " he said .'])
        [['SENTENCE_START', '"', 'hello', '!', '"', 'SENTENCE_END'],
         ['SENTENCE_START', 'he', 'said', '.', 'SENTENCE_END']]
    """
    out: List[List[str]] = []
    for line in lines:
        pieces: List[List[str]] = []
        current: List[str] = []
        ended = False  # the current piece has seen its end mark
        for token in line.split():
            if ended and not _closes(token, current):
                pieces.append(current)
                current, ended = [], False
            current.append(token)
            ended = ended or token in _END_MARKS
        if current:
            pieces.append(current)
        merged: List[List[str]] = []
        for piece in pieces:
            if merged and not any(_HAS_WORD.search(t) for t in piece):
                merged[-1].extend(piece)
            else:
                merged.append(piece)
        out.extend([SENTENCE_START, *piece, SENTENCE_END] for piece in merged)
    return out


def _closes(token: str, sentence: List[str]) -> bool:
    """Whether `token` after an end mark closes a quote or bracket opened in `sentence`."""
    if token in ('"', "'"):
        return sentence.count(token) % 2 == 1
    return token == ")" and sentence.count("(") > sentence.count(")")


class SentenceSampler:
    """One sentence per batch, a fresh shuffled order each epoch; resumable mid-epoch.

    Batches are (x, y) of shape (T, 1), y = x shifted by one token; T varies. The
    state is the epoch, the next sentence, and the generator's state at the start
    of the epoch (the order is re-drawn from it on resume). No state is carried
    between sentences (`carries_state` is False).
    """

    kind = "sentences"
    carries_state = False

    def __init__(self, pairs: List[Tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> None:
        if not pairs:
            raise UsageError("no training sentences; give a training text with some words in it")
        self.pairs, self.rng = pairs, rng
        self.epoch_index, self._batch = 0, 0  # epochs completed, next sentence within this epoch
        self._order: Optional[np.ndarray] = None
        self._epoch_rng: Optional[dict] = None

    def __len__(self) -> int:
        return len(self.pairs)

    def _ensure_order(self) -> None:
        if self._order is None:
            self._epoch_rng = self.rng.bit_generator.state
            self._order = self.rng.permutation(len(self.pairs))  # (n_sentences,)

    def epoch(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        self._ensure_order()
        while self._batch < len(self):
            x, y = self.pairs[self._order[self._batch]]
            self._batch += 1
            yield x[:, None], y[:, None]  # (T, 1) each
        self.epoch_index, self._batch, self._order = self.epoch_index + 1, 0, None

    def state(self) -> Dict[str, Any]:
        epoch, batch, rng = self.epoch_index, self._batch, self._epoch_rng
        if self._order is None or batch >= len(self):  # the next epoch's start
            epoch, batch, rng = epoch + (self._order is not None), 0, self.rng.bit_generator.state
        return {"kind": self.kind, "epoch": epoch, "batch": batch, "rng": rng, "n_sentences": len(self)}

    def set_state(self, d: Dict[str, Any]) -> None:
        if not isinstance(d, dict) or d.get("kind") != self.kind or d.get("n_sentences") != len(self):
            raise UsageError("saved data position does not match these sentences; "
                             "resume with the same data and settings as the original run")
        self.rng.bit_generator.state = d["rng"]
        self.epoch_index, self._order = int(d["epoch"]), None
        self._ensure_order()
        self._batch = int(d["batch"])


# -- the task --------------------------------------------------------------------------

class WordLM(LanguageModelTask):
    """Word-level language model (pytorch word_language_model; WildML sentences)."""

    name = "wordlm"
    Options = WordLMOptions
    presets = PRESETS

    def __init__(self, options: WordLMOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        super().__init__(options)
        self.vocab = Vocabulary.from_json(vocab_json) if vocab_json else None
        self.ids: Dict[str, np.ndarray] = {}  # stream mode: split -> (N,) ids
        self.pairs: Dict[str, list] = {}  # sentence mode: split -> [(x, y), ...]
        if load_data:
            splits = read_splits(options)
            if options.mode == "stream":
                self._load_stream(splits)
            else:
                self._load_sentences(splits)
        elif self.vocab is None:
            raise UsageError("a word model needs its vocabulary; the checkpoint has none")

    def how_text_is_written(self) -> str:
        """Where to see how a text must be tokenised to match this model's vocabulary."""
        if self.options.data:
            return f"{self.options.data}/train.txt"
        return f"the shipped {self.options.corpus}: lowercase, punctuation as separate words"

    def _load_stream(self, splits: Dict[str, List[str]]) -> None:
        tokens = {split: ptb_tokens(lines) for split, lines in splits.items()}
        if self.options.max_tokens is not None:
            tokens["train"] = tokens["train"][: self.options.max_tokens]
        if self.vocab is None:
            self.vocab = Vocabulary.from_tokens(tokens["train"], unk=UNK)
        for split in SPLITS:
            self.ids[split] = self.vocab.encode(tokens[split], unknown="unk")  # (N,)
            if len(self.ids[split]) < 3:
                raise UsageError(f"{split} split has {len(self.ids[split])} tokens; it needs at least 3")

    def _load_sentences(self, splits: Dict[str, List[str]]) -> None:
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

    # -- model -------------------------------------------------------------------------
    def model_config(self) -> ModelConfig:
        o = self.options
        V = len(self.vocab)
        sentence = o.mode == "sentence" and o.init == "wildml"
        return ModelConfig(input=o.input, input_size=V, output_size=V, cell=o.cell, nonlinearity=o.nonlinearity,
                           hidden_size=o.hidden, num_layers=o.layers, embedding_size=o.embedding_size,
                           dropout=o.dropout, weight_dropout=o.weight_dropout, locked_dropout=o.locked_dropout,
                           tied=o.tied, bias=not sentence, adaptive_cutoffs=o.adaptive_cutoffs,
                           init="pytorch" if o.init in ("example", "wildml") else o.init,
                           init_scale=o.init_scale, dtype=o.dtype)

    def build_model(self, backend: str = "numpy") -> None:
        super().build_model(backend)
        if self.options.init in ("example", "wildml"):
            self._reinitialise(np.random.default_rng([self.options.seed, 3]))

    def _reinitialise(self, rng: np.random.Generator) -> None:
        """--init example: U(+-s) embedding and head weights, head bias 0, recurrent layers untouched;
        --init wildml: U ~ U(+-1/sqrt(V)) (input weights), W and V ~ U(+-1/sqrt(H))."""
        weights = self.model.state_dict()
        dtype = np.dtype(self.options.dtype)
        if self.options.init == "example":
            s = self.options.init_scale
            bounds = {"embedding.weight": s, "head.weight": s, "head.bias": 0.0}
        else:
            V, H = len(self.vocab), self.options.hidden
            bounds = {name: 1 / math.sqrt(V if name.startswith("rnn.weight_ih_l0") else H)
                      for name in weights if "weight" in name}
        for name, bound in bounds.items():
            if name in weights:  # a tied head has no weight of its own
                weights[name] = rng.uniform(-bound, bound, size=weights[name].shape).astype(dtype)
        self.model.load_state_dict(weights)

    # -- training ----------------------------------------------------------------------
    def make_sampler(self):
        if self.options.mode == "sentence":
            return SentenceSampler(self.pairs["train"], np.random.default_rng([self.options.seed, 1]))
        return BpttWindows(batchify(self.ids["train"], self.options.batch_size), self.options.seq_len,
                           **self.data_shard())  # under torchrun: this rank's columns

    def train_step(self, batch) -> Tuple[float, int]:
        if self.options.mode == "sentence":
            return self._sentence_step(*batch)
        return super().train_step(batch)

    def _sentence_step(self, x: np.ndarray, y: np.ndarray) -> Tuple[float, int]:
        """Forward and backward one sentence, x and y (T, 1); the gradient is that of the summed loss."""
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
        if self.options.mode == "sentence":
            return self.sentence_loss(self.pairs[split])
        return self.stream_loss(self.ids[split], EVAL_BATCH_SIZE)

    def evaluate(self) -> Dict[str, float]:
        return self.perplexity_metrics("val", self.split_loss("valid"))

    def held_out_streams(self) -> Dict[str, np.ndarray]:
        return {"val": self.ids["valid"], "test": self.ids["test"]} if self.ids else {}

    def sample(self, seed: int) -> str:
        o = self.options
        prefix = SENTENCE_START if o.mode == "sentence" else EOS
        text = generate(self.model, self.vocab, prefix, o.sample_length, temperature=o.temperature,
                        greedy=o.temperature == 0, rng=np.random.default_rng([o.seed, 2, seed]))
        words = text.split()[1:]
        if SENTENCE_END in words:
            words = words[: words.index(SENTENCE_END)]
        return " ".join(words)

    def on_evaluation(self, epoch: int, metrics: Dict[str, float], say) -> None:
        if self.options.sample_length:
            say(f"  sample: {self.sample(epoch)}")

    def finish(self, say) -> Dict[str, Any]:
        final: Dict[str, Any] = {"vocab_size": len(self.vocab)}
        if self.ids or self.pairs:
            final.update(self.perplexity_metrics("test", self.split_loss("test")))
            say(f"test loss {final['test_loss']:.4f} | test ppl {final['test_ppl']:.2f}")
        if self.options.sample_length:
            final["sample"] = self.sample(10**6)
        return final


__all__ = ["WordLM", "WordLMOptions", "SentenceSampler", "split_tokenised_sentences", "MODE_DEFAULTS", "PRESETS"]
