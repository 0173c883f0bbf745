"""Generation: top-p, beam search, several samples in a batch, streaming, the flags' checks.

A hand-made model (next-token probabilities written out per history, the history carried in
its state as an LSTM-like pair) pins down what beam search must find; tiny NumpyModels of
every cell check the rest against brute force and against greedy search.
"""
from __future__ import annotations

import argparse
import io
import itertools

import numpy as np
import pytest

from rnnlab.beam import beam_search, log_softmax
from rnnlab.data import Vocabulary
from rnnlab.engine.registry import cell_names
from rnnlab.errors import UsageError
from rnnlab.generate import (add_generation_flags, generate, generate_samples, generate_stream, nucleus,
                             pick_tokens, print_generation, sampling_distribution)
from rnnlab.models import ModelConfig, NumpyModel

CHARS = Vocabulary(["s", "a", "b", "."], kind="char")  # "s" starts, "." may end a hypothesis


class HandMadeModel:
    """p(next | history) from `table` {history string: probabilities over CHARS}, uniform elsewhere.

    The state is a pair (history code (1, B, 1), steps (1, B, 1)): a beam search that gives a
    hypothesis the wrong parent's state reads the wrong row of the table."""

    def __init__(self, table: dict) -> None:
        self.table = {self.code(CHARS.encode(history)): np.asarray(p, dtype=np.float64) for history, p in table.items()}
        self.training = False

    @staticmethod
    def code(ids) -> float:
        value = 0.0
        for token in ids:
            value = value * len(CHARS) + int(token) + 1
        return value

    def eval(self):
        return self.train(False)

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def init_state(self, batch_size: int):
        return np.zeros((1, batch_size, 1)), np.zeros((1, batch_size, 1))

    def forward(self, ids: np.ndarray, state=None):
        steps, batch = ids.shape
        history, count = self.init_state(batch) if state is None else (state[0].copy(), state[1].copy())
        logits = np.empty((steps, batch, len(CHARS)))  # (T, B, V)
        uniform = np.full(len(CHARS), 1.0 / len(CHARS))
        for t in range(steps):
            history[0, :, 0] = history[0, :, 0] * len(CHARS) + ids[t] + 1
            count += 1
            for b in range(batch):
                logits[t, b] = np.log(np.maximum(self.table.get(history[0, b, 0], uniform), 1e-12))
        return logits, (history, count)


# greedy takes "a" (0.5) and then at best 1/3: 0.17; "bb" has 0.4 * 0.9 = 0.36
GREEDY_MISSES = {"s": [0.0, 0.5, 0.4, 0.1], "sa": [0.0, 1 / 3, 1 / 3, 1 / 3], "sb": [0.0, 0.05, 0.9, 0.05]}
# ending at once has p 0.4 (log -0.92); "sbb" has 0.27 (log -1.31, per token -0.65)
SHORT_OR_LONG = {"s": [0.0, 0.3, 0.3, 0.4], "sb": [0.0, 0.05, 0.9, 0.05]}


def tiny_model(cell: str, vocab_size: int, seed: int = 0) -> NumpyModel:
    config = ModelConfig(input="embedding", input_size=vocab_size, output_size=vocab_size, cell=cell,
                         hidden_size=8, num_layers=2, dtype="float64")
    return NumpyModel(config, seed=seed)


@pytest.fixture
def chars():
    return Vocabulary.from_text("abcdefgh ")


@pytest.fixture
def words():
    return Vocabulary.from_tokens("the cat sat on the mat and the dog ran".split())


# ------------------------------------------------------------------------------ beam search
def test_beam_search_finds_the_likely_pair_that_greedy_search_misses():
    model = HandMadeModel(GREEDY_MISSES)
    assert generate(model, CHARS, "s", 2, greedy=True) == "saa"
    assert generate(model, CHARS, "s", 2, beam=2) == "sbb"
    (_, score), = beam_search(model, CHARS.encode("s"), 2, beam=2, length_penalty=1.0)
    assert score == pytest.approx(np.log(0.4 * 0.9) / 2)


def test_beam_search_with_an_end_symbol_ranks_by_length_normalised_score():
    model = HandMadeModel(SHORT_OR_LONG)
    assert generate(model, CHARS, "s", 2, beam=3, end=".", length_penalty=0.0) == "s."  # total log p: the short one
    assert generate(model, CHARS, "s", 2, beam=3, end=".", length_penalty=1.0) == "sbb"  # per token: the long one
    assert generate(model, CHARS, "s", 2, beam=3, length_penalty=0.0) == "sbb"  # no end: "." is just a symbol


def test_beam_search_returns_count_hypotheses_best_first_with_falling_scores():
    model = HandMadeModel(GREEDY_MISSES)
    found = beam_search(model, CHARS.encode("s"), 2, beam=3, count=3)
    scores = [score for _, score in found]
    assert len(found) == 3 and scores == sorted(scores, reverse=True)
    assert generate_samples(model, CHARS, "s", 2, count=3, beam=3)[0] == "sbb"


@pytest.mark.parametrize("cell", cell_names())
def test_beam_width_one_is_greedy_search(cell, chars):
    model = tiny_model(cell, len(chars), seed=3)
    assert generate(model, chars, "ab", 25, beam=1) == generate(model, chars, "ab", 25, greedy=True)


@pytest.mark.parametrize("cell", cell_names())
def test_a_beam_as_wide_as_the_tree_finds_the_most_likely_sequence_found_by_brute_force(cell):
    vocab = Vocabulary.from_text("abcd")
    model = tiny_model(cell, len(vocab), seed=1)
    prompt = vocab.encode("ab")

    def total_log_prob(continuation):
        logits, _ = model.forward(np.concatenate([prompt, continuation]).reshape(-1, 1))  # (T, 1, V)
        log_probs = log_softmax(logits[len(prompt) - 1:-1, 0])  # (3, V): the rows that predict the continuation
        return log_probs[np.arange(3), continuation].sum()

    best = max(itertools.product(range(4), repeat=3), key=lambda seq: total_log_prob(np.array(seq)))
    (ids, score), = beam_search(model, prompt, 3, beam=16)  # 4 x 4 hypotheses after two steps: all of them
    assert tuple(ids) == best
    assert score == pytest.approx(total_log_prob(np.array(best)) / 3)


def test_beam_search_leaves_the_model_in_the_mode_it_found_it(chars):
    model = tiny_model("lstm", len(chars))
    model.train()
    generate(model, chars, "a", 5, beam=2)
    assert model.training


# ------------------------------------------------------------------------------ top-p, top-k, temperature
DISTRIBUTION = np.array([0.125, 0.5, 0.125, 0.25])  # ranked: 1 (0.5), 3 (0.25), then 0 and 2 (0.125 each)


@pytest.mark.parametrize("top_p, kept", [(0.1, {1}), (0.5, {1}), (0.6, {1, 3}), (0.75, {1, 3}),
                                         (0.8, {1, 3, 0}), (0.875, {1, 3, 0}), (0.9, {0, 1, 2, 3}),
                                         (1.0, {0, 1, 2, 3})])
def test_top_p_keeps_exactly_the_smallest_set_of_most_likely_tokens_whose_probability_reaches_p(top_p, kept):
    filtered = nucleus(DISTRIBUTION, top_p)
    assert set(np.flatnonzero(filtered)) == kept
    assert np.array_equal(filtered[list(kept)], DISTRIBUTION[list(kept)])


def test_top_p_sampling_draws_only_from_the_nucleus():
    logits = np.log(np.tile(DISTRIBUTION, (400, 1)))  # (400, V): 400 draws at once
    rngs = np.random.default_rng(0).spawn(400)
    tokens = pick_tokens(logits, top_p=0.6, rngs=rngs)
    assert set(tokens.tolist()) == {1, 3}


def test_top_p_applies_after_top_k_and_temperature_as_in_hf():
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    assert np.flatnonzero(sampling_distribution(logits, top_p=0.5)).tolist() == [0, 1]
    assert np.flatnonzero(sampling_distribution(logits, top_k=2, top_p=0.5)).tolist() == [0]  # 4/7 reaches 0.5
    hot = np.exp(logits / 3.0) / np.exp(logits / 3.0).sum()
    expected = nucleus(hot, 0.5)
    assert np.allclose(sampling_distribution(logits, temperature=3.0, top_p=0.5), expected / expected.sum())


# ------------------------------------------------------------------------------ several samples, streaming
def test_count_gives_that_many_samples_the_same_under_the_same_seed_and_different_under_another(chars):
    model = tiny_model("gru", len(chars))
    first = generate_samples(model, chars, "ab", 30, count=4, rng=np.random.default_rng(7))
    again = generate_samples(model, chars, "ab", 30, count=4, rng=np.random.default_rng(7))
    other = generate_samples(model, chars, "ab", 30, count=4, rng=np.random.default_rng(8))
    assert len(first) == 4 and all(text.startswith("ab") and len(text) == 32 for text in first)
    assert first == again
    assert first != other
    assert len(set(first)) == 4  # independent samples, not one sample four times


def test_the_first_of_several_samples_is_the_single_sample_of_the_same_seed(chars):
    model = tiny_model("lstm", len(chars))
    several = generate_samples(model, chars, "ab", 30, count=3, temperature=0.9, top_k=5,
                               rng=np.random.default_rng(2))
    assert several[0] == generate(model, chars, "ab", 30, temperature=0.9, top_k=5, rng=np.random.default_rng(2))


@pytest.mark.parametrize("vocab_name", ["chars", "words"])
def test_streamed_pieces_join_into_the_text_generate_returns_for_the_same_seed(vocab_name, request):
    vocab = request.getfixturevalue(vocab_name)
    model = tiny_model("lstm", len(vocab))
    prefix = "ab" if vocab.kind == "char" else "the cat"
    settings = dict(temperature=0.8, top_p=0.9)
    pieces = list(generate_stream(model, vocab, prefix, 12, rng=np.random.default_rng(4), **settings))
    assert len(pieces) == 13  # the prefix, then one piece per token
    assert "".join(pieces) == generate(model, vocab, prefix, 12, rng=np.random.default_rng(4), **settings)


def test_word_samples_are_joined_with_spaces_as_the_vocabulary_decodes(words):
    model = tiny_model("rnn", len(words))
    text = generate(model, words, "the cat", 6, rng=np.random.default_rng(0))
    assert len(text.split(" ")) == 8 and all(word in words for word in text.split(" "))


# ------------------------------------------------------------------------------ the flags
def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_generation_flags(parser)
    return parser.parse_args(list(argv))


def printed(model, vocab, *argv: str) -> str:
    out = io.StringIO()
    assert print_generation(model, vocab, parse(*argv), out=out) == 0
    return out.getvalue()


def test_the_flags_print_count_samples_and_stream_the_same_text_as_without_stream(chars):
    model = tiny_model("lstm", len(chars))
    several = printed(model, chars, "--prefix", "ab", "--length", "10", "--count", "3", "--seed", "1")
    assert several.count("--- sample ") == 3
    single = printed(model, chars, "--prefix", "ab", "--length", "10", "--seed", "1", "--top-p", "0.8")
    streamed = printed(model, chars, "--prefix", "ab", "--length", "10", "--seed", "1", "--top-p", "0.8",
                       "--stream")
    assert streamed == single
    assert printed(model, chars, "--prefix", "ab", "--length", "10", "--beam", "1") == \
        printed(model, chars, "--prefix", "ab", "--length", "10", "--greedy")


@pytest.mark.parametrize("settings, flag", [
    (dict(beam=0), "--beam"), (dict(top_p=0.0), "--top-p"), (dict(top_p=1.5), "--top-p"),
    (dict(count=0), "--count"), (dict(length=-1), "--length"), (dict(temperature=-0.5), "--temperature"),
    (dict(top_k=0), "--top-k"), (dict(length_penalty=float("nan"), beam=2), "--length-penalty"),
    (dict(beam=2, top_k=3), "--top-k"), (dict(beam=2, count=3), "--count"),
    (dict(beam=2, end="Z"), "--end"),
])
def test_bad_generation_settings_raise_a_usage_error_naming_the_flag(settings, flag, chars):
    model = tiny_model("rnn", len(chars))
    length = settings.pop("length", 5)
    with pytest.raises(UsageError, match=flag):
        generate_samples(model, chars, "ab", length, rng=np.random.default_rng(0), **settings)


@pytest.mark.parametrize("argv", [("--stream", "--count", "2"), ("--stream", "--beam", "2")])
def test_stream_with_several_texts_or_a_beam_is_refused(argv, chars):
    model = tiny_model("rnn", len(chars))
    with pytest.raises(UsageError, match="--stream"):
        print_generation(model, chars, parse("--prefix", "a", *argv), out=io.StringIO())
