"""Data for rnnlab: shipped corpora, vocabularies, tokenisers and batch samplers.

Files in reading order:
  corpora.py   the shipped corpora (gzip, see corpora/README.md) and reading user files
  vocab.py     Vocabulary: symbols <-> ids, saved as versioned JSON in checkpoints
  text.py      characters, PTB-style words, WildML sentences
  tokenize.py  plain text -> word tokens (one documented rule), a text's train/valid/test split
  samplers.py  (X, Y) batches, time-major (T, B): random, consecutive, batchify + BPTT;
               all resumable mid-epoch through state() / set_state()
  windows.py   strided windows with one next-token target each (the Keras text-generation example)
  sentences.py sentences of an already tokenised text; one sentence per step (resumable)

Stdlib and NumPy only.
"""

from rnnlab.data.corpora import CORPORA, Corpus, load_corpus, load_text, load_word_splits, read_text_file
from rnnlab.data.samplers import BpttWindows, ConsecutiveWindows, RandomWindows, batchify
from rnnlab.data.sentences import SentenceSampler, split_tokenised_sentences
from rnnlab.data.text import (
    EOS,
    SENTENCE_END,
    SENTENCE_START,
    UNKNOWN_TOKEN,
    prepare_chars,
    ptb_tokens,
    sentence_pairs,
    sentence_vocabulary,
    sentences,
    split_sentences,
    tokenize_words,
)
from rnnlab.data.tokenize import WordTokenizer, split_tail, stream_tokens
from rnnlab.data.vocab import Vocabulary
from rnnlab.data.windows import StridedWindows

__all__ = [
    "CORPORA",
    "Corpus",
    "load_corpus",
    "load_text",
    "load_word_splits",
    "read_text_file",
    "Vocabulary",
    "WordTokenizer",
    "split_tail",
    "stream_tokens",
    "SentenceSampler",
    "split_tokenised_sentences",
    "EOS",
    "SENTENCE_START",
    "SENTENCE_END",
    "UNKNOWN_TOKEN",
    "prepare_chars",
    "ptb_tokens",
    "split_sentences",
    "tokenize_words",
    "sentences",
    "sentence_vocabulary",
    "sentence_pairs",
    "RandomWindows",
    "ConsecutiveWindows",
    "batchify",
    "BpttWindows",
    "StridedWindows",
]
