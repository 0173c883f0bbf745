"""The example scripts' own code (their full runs are measurements, reported in the README)."""
import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def load_example(name):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_books_adjacent_sampling_reads_rows_of_the_stream_with_targets_one_step_ahead():
    d2l = load_example("d2l_reference")
    stream = torch.arange(100)
    batches = list(d2l.data_iter_consecutive(stream, batch_size=4, num_steps=6))
    assert len(batches) == (25 - 1) // 6  # 4 rows of 25 tokens, the last token only as a target
    for i, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (4, 6)
        assert torch.equal(y, x + 1)  # the next token
        assert torch.equal(x[:, 0], torch.tensor([0, 25, 50, 75]) + 6 * i)  # batch i continues batch i-1


def test_the_books_loop_learns_a_repeated_line_to_a_perplexity_near_one(monkeypatch):
    d2l = load_example("d2l_reference")
    monkeypatch.setattr(d2l, "HIDDEN", 32)
    monkeypatch.setattr(d2l, "BATCH", 4)
    monkeypatch.setattr(d2l, "STEPS", 8)
    monkeypatch.setattr(d2l, "LR", 1.0)  # clipped to norm THETA, so lr * theta is the step length
    monkeypatch.setattr(d2l, "THETA", 1.0)
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 6] * 60)  # one 7-symbol line, repeated
    curve = d2l.train_reference(ids, vocab_size=7, epochs=10, seed=0, report_every=1)
    assert curve[1] > 5  # near a uniform guess over 7 symbols at first
    assert curve[10] < 1.05
