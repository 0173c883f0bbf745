"""What the two word-level tasks share: the benchmark's splits, their options, sampling, reporting.

`wordlm` (wordlm.py) reads the benchmark as one token stream, as PyTorch's
word_language_model example does; `wordlm-sentence` (wordlm_sentence.py) reads it one
sentence at a time, as the WildML RNN tutorial does. Both read a PTB-style benchmark:
the shipped `warpeace-words` (`--corpus`) or `--data DIR` holding train.txt /
valid.txt / test.txt, and report validation and test perplexity.

Weight init beyond ModelConfig's: `--init example` (U(+-s) embedding and head, head bias 0)
and `--init wildml` (U ~ U(+-1/sqrt(V)), W and V ~ U(+-1/sqrt(H))) are applied after
the model is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from rnnlab.data import Vocabulary, load_word_splits, read_text_file
from rnnlab.data.text import SENTENCE_END
from rnnlab.errors import UsageError
from rnnlab.generate import generate
from rnnlab.tasks.lm import LanguageModelTask
from rnnlab.tasks.options import INITS, Options, option

SPLITS = ("train", "valid", "test")
WORD_INITS = ("example", "wildml")  # applied by WordTask after the model is built


@dataclass
class WordOptions(Options):
    """Options of both word tasks."""

    defaults = dict(optimizer="sgd", schedule="plateau", epochs=6, seq_len=35, init_scale=0.1)
    field_help = dict(init_scale="bound of U(-s, s) for --init example/uniform, std for normal")
    field_choices = dict(init=(*WORD_INITS, *INITS))

    corpus: str = option("warpeace-words", "shipped word benchmark", choices=("warpeace-words",))
    data: Optional[str] = option(None, "folder with train.txt, valid.txt, test.txt instead of --corpus")
    input: str = option("embedding", "input encoding", choices=("onehot", "embedding"))
    embedding_size: int = option(0, "embedding width (0: same as --hidden-size)")
    tied: bool = option(
        False,
        "tie the embedding and the output head (one array); with --embedding-size "
        "other than --hidden-size, a bias-free hidden -> embedding layer comes before the head",
    )
    locked_dropout: bool = option(False, "the same dropout mask at every time step")
    sample_length: int = option(20, "words to generate after each evaluation (0: none)")
    temperature: float = option(1.0, "sampling temperature for those samples (0: greedy)")

    def validate(self) -> None:
        super().validate()
        if self.sample_length < 0:
            raise UsageError(f"--sample-length must be >= 0, got {self.sample_length}")
        if self.temperature < 0 or not np.isfinite(self.temperature):
            raise UsageError(f"--temperature must be >= 0 (0: greedy), got {self.temperature}")
        if self.embedding_size < 0:
            raise UsageError(f"--embedding-size must be >= 0 (0: same as --hidden-size), got {self.embedding_size}")
        if self.tied and self.input != "embedding":
            raise UsageError("--tied needs --input embedding")


def read_splits(options: WordOptions) -> dict[str, list[str]]:
    """Lines per split: the shipped benchmark, or train/valid/test.txt of `--data`."""
    if options.data is None:
        return load_word_splits(options.corpus)
    folder = Path(options.data)
    if not folder.is_dir():
        raise UsageError(
            f"--data {str(folder)!r} is not a folder; give a folder holding train.txt, valid.txt and test.txt"
        )
    return {split: read_text_file(folder / f"{split}.txt").splitlines() for split in SPLITS}


class WordTask(LanguageModelTask):
    """Base of the word tasks: vocabulary from the checkpoint or the data, init, samples, test perplexity."""

    sample_prefix = ""  # the token a sample starts after

    def __init__(self, options: WordOptions, vocab_json: Optional[dict] = None, load_data: bool = True) -> None:
        super().__init__(options)
        self.vocab = Vocabulary.from_json(vocab_json) if vocab_json else None
        self.loaded = False
        if load_data:
            self.load_splits(self.read_splits())
            self.loaded = True
        elif self.vocab is None:
            raise UsageError("a word model needs its vocabulary; the checkpoint has none")

    def read_splits(self) -> dict[str, list[str]]:
        """Lines per split (wordlm also reads a plain `--text`)."""
        return read_splits(self.options)

    def load_splits(self, splits: dict[str, list[str]]) -> None:
        raise NotImplementedError

    def split_loss(self, split: str) -> float:
        raise NotImplementedError

    def how_text_is_written(self) -> str:
        """Where to see how a text must be tokenised to match this model's vocabulary."""
        tokenizer = getattr(self.vocab, "tokenizer", None)
        if tokenizer is not None:
            return (
                f"this run tokenises text itself ({tokenizer.describe()}); the words it lacks are rare in its "
                f"training text"
            )
        if self.options.data:
            return f"{self.options.data}/train.txt"
        return f"the shipped {self.options.corpus}: lowercase, punctuation as separate words"

    # -- model -------------------------------------------------------------------------
    def model_inputs(self) -> dict[str, Any]:
        V = len(self.vocab)
        init = self.options.init
        return dict(input_size=V, output_size=V, init="pytorch" if init in WORD_INITS else init)

    def build_model(self, backend: str = "numpy") -> None:
        super().build_model(backend)
        if self.options.init in WORD_INITS:
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
            V, H = len(self.vocab), self.options.hidden_size
            bounds = {
                name: 1 / math.sqrt(V if name.startswith("rnn.weight_ih_l0") else H)
                for name in weights
                if "weight" in name
            }
        for name, bound in bounds.items():
            if name in weights:  # a tied head has no weight of its own
                weights[name] = rng.uniform(-bound, bound, size=weights[name].shape).astype(dtype)
        self.model.load_state_dict(weights)

    # -- evaluation --------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        return self.perplexity_metrics("val", self.split_loss("valid"))

    def sample(self, seed: int) -> str:
        o = self.options
        text = generate(
            self.model,
            self.vocab,
            self.sample_prefix,
            o.sample_length,
            temperature=o.temperature,
            greedy=o.temperature == 0,
            rng=np.random.default_rng([o.seed, 2, seed]),
        )
        words = text.split()[1:]
        if SENTENCE_END in words:
            words = words[: words.index(SENTENCE_END)]
        return " ".join(words)

    def on_evaluation(self, epoch: int, metrics: dict[str, float], say) -> None:
        if self.options.sample_length:
            say(f"  sample: {self.sample(epoch)}")

    def finish(self, say) -> dict[str, Any]:
        final: dict[str, Any] = {"vocab_size": len(self.vocab)}
        if self.loaded:
            final.update(self.perplexity_metrics("test", self.split_loss("test")))
            say(f"test loss {final['test_loss']:.4f} | test ppl {final['test_ppl']:.2f}")
        if self.options.sample_length:
            final["sample"] = self.sample(10**6)
        return final
