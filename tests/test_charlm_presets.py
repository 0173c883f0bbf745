"""charlm's presets named after their sources reproduce them.

`--preset d2l` is checked against tests/oracles/d2l.py, a NumPy transcription of d2l's RNN
chapter that shares no code with rnnlab: the same text, vocabulary order, seed and dtype
(float64) must give the same initial weights, the same weights after training and every
printed line (perplexities to the printed 6 decimals, greedy continuations) equal.

Why only a few epochs: at lr 100 every step has length lr * theta = 1, and the training is
chaotic; the two programs sum in different orders (rnnlab adds the bias before the recurrent
product, its BLAS dot forms the clipping norm), so their 1e-16 rounding differences grow
about a hundredfold per epoch and reach the sixth printed decimal after some 70 steps.
"""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from oracles import d2l

from rnnlab import api
from rnnlab.checkpoint import load_checkpoint, split_prefix
from rnnlab.data import ConsecutiveWindows, load_corpus, prepare_chars
from rnnlab.tasks import TASKS

# small enough for a test, long enough that the continuations are more than spaces
CHARS, HIDDEN, BATCH, EPOCHS, PERIOD, SEED = 2000, 64, 8, 8, 2, 3
PREFIXES = ("相见", "不相见")


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def text() -> str:
    return prepare_chars(load_corpus("tang300"), max_chars=CHARS, newlines="space")


def run_preset(tmp_path, **settings):
    """`charlm --preset d2l` on the short text -> (printed lines, final weights)."""
    out = io.StringIO()
    run_dir = tmp_path / "d2l"
    with contextlib.redirect_stdout(out):
        api.train("charlm", preset="d2l", run_dir=run_dir, max_chars=CHARS, hidden_size=HIDDEN,
                  batch_size=BATCH, epochs=EPOCHS, eval_every=PERIOD, seed=SEED, progress=False, **settings)
    tensors, _ = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return out.getvalue().splitlines(), split_prefix(tensors, "model")


def books_lines(lines):
    return [line for line in lines if line.startswith(" - ") or (line.startswith("epoch ") and ", perplexity " in line)]


def test_the_d2l_preset_prints_every_number_of_the_books_program_in_float64(tmp_path, text):
    lines, _ = run_preset(tmp_path, dtype="float64")
    expected = d2l.train(text, num_hiddens=HIDDEN, batch_size=BATCH, num_epochs=EPOCHS, pred_period=PERIOD,
                         prefixes=PREFIXES, seed=SEED, dtype=np.float64)
    assert len(expected) == (EPOCHS // PERIOD) * (1 + len(PREFIXES))
    assert books_lines(lines) == expected
    assert any(len(set(line[3 + len(PREFIXES[0]):])) > 3 for line in expected if line.startswith(" - "))


def test_the_d2l_preset_ends_with_the_books_weights_in_float64(tmp_path, text):
    _, tensors = run_preset(tmp_path, dtype="float64")
    _, params = d2l.train_and_predict_rnn(text, num_hiddens=HIDDEN, batch_size=BATCH, num_epochs=EPOCHS,
                                          pred_period=PERIOD, prefixes=PREFIXES, seed=SEED, dtype=np.float64)
    W_xh, W_hh, b_h, W_hq, b_q = params
    ours = {"rnn.weight_ih_l0": W_xh.T, "rnn.weight_hh_l0": W_hh.T, "rnn.bias_ih_l0": b_h,
            "head.weight": W_hq.T, "head.bias": b_q}
    assert sorted(tensors) == sorted(ours)
    for name, value in ours.items():
        np.testing.assert_allclose(tensors[name], value, rtol=0, atol=1e-9, err_msg=name)


def test_the_d2l_init_draws_the_books_initial_weights(text):
    task = TASKS["charlm"](api.make_options("charlm", preset="d2l", max_chars=CHARS, hidden_size=HIDDEN,
                                            seed=SEED, dtype="float64"))
    task.build_model()
    W_xh, W_hh, b_h, W_hq, b_q = d2l.get_params(len(task.vocab), HIDDEN, seed=SEED, dtype=np.float64)
    params = task.model.params
    assert task.vocab.itos == d2l.make_vocab(text)[0]
    assert np.array_equal(params["rnn.weight_ih_l0"], W_xh.T) and np.array_equal(params["rnn.weight_hh_l0"], W_hh.T)
    assert np.array_equal(params["head.weight"], W_hq.T)
    assert not params["rnn.bias_ih_l0"].any() and not params["head.bias"].any()
    assert "rnn.bias_hh_l0" not in params  # one bias b_h, as the book has


def test_the_d2l_preset_trains_on_every_character_without_a_validation_split():
    options = api.make_options("charlm", preset="d2l")
    task = TASKS["charlm"](options)
    assert (len(task.train_ids), task.val_ids) == (10000, None)
    assert (options.val_fraction, options.offset, options.clip_eps, options.hidden_bias) == (0.0, "0", 0.0, False)
    assert task.evaluate() == {}


def test_consecutive_windows_from_offset_zero_are_the_books_data_iter_consecutive():
    stream = np.arange(2000) % 89
    for batch_size, steps in ((32, 35), (4, 6), (7, 5)):
        ours = list(ConsecutiveWindows(stream, steps, batch_size, offset=0).epoch())
        book = list(d2l.data_iter_consecutive(stream, batch_size, steps))
        assert len(ours) == len(book)
        for (X, Y), (bx, by) in zip(ours, book):
            assert np.array_equal(X, bx.T) and np.array_equal(Y, by.T)  # ours time-major


def test_a_fixed_offset_resumes_only_as_a_fixed_offset():
    stream = np.arange(1000)
    fixed = ConsecutiveWindows(stream, 5, 4, offset=0)
    next(fixed.epoch())
    again = ConsecutiveWindows(stream, 5, 4, offset=0)
    again.set_state(fixed.state())
    assert np.array_equal(next(again.epoch())[0], next(fixed.epoch())[0])
    from rnnlab.errors import UsageError

    with pytest.raises(UsageError, match="offset"):
        ConsecutiveWindows(stream, 5, 4, rng=0).set_state(fixed.state())


def test_the_d2l_preset_in_float32_follows_the_book_to_a_few_digits_only(tmp_path, text):
    """float32 rounds differently in the two programs (the oracle sums the clipping norm in
    float64): the first report agrees to about 3 digits, not 6; float64 is the exactness proof."""
    lines, _ = run_preset(tmp_path)
    expected = d2l.train(text, num_hiddens=HIDDEN, batch_size=BATCH, num_epochs=EPOCHS, pred_period=PERIOD,
                         prefixes=PREFIXES, seed=SEED, dtype=np.float32)
    ours = [float(line.rsplit(" ", 1)[1]) for line in books_lines(lines) if line.startswith("epoch")]
    theirs = [float(line.rsplit(" ", 1)[1]) for line in expected if line.startswith("epoch")]
    assert math.isclose(ours[0], theirs[0], rel_tol=1e-3)


def test_the_wildml_preset_of_wordlm_sentence_is_the_wildml_tutorials_settings():
    preset = api.make_options("wordlm-sentence", preset="wildml")
    assert (preset.cell, preset.hidden_size, preset.batch_size, preset.lr, preset.bptt_truncate, preset.init,
            preset.vocab_size) == ("rnn", 100, 1, 0.005, 4, "wildml", 8000)
    assert preset == api.make_options("wordlm-sentence")  # today's defaults are the tutorial
