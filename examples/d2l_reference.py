"""d2l's character RNN, ported line by line to PyTorch, next to `rnnlab train charlm --preset d2l`.

Dive into Deep Learning (Chinese edition, "循环神经网络的从零开始实现") trains a tanh RNN
with 256 hidden units on the first 10,000 characters of Jay Chou's lyrics (newlines as
spaces): one-hot inputs, weights from N(0, 0.01), consecutive sampling (batch 32, 35
steps, the state reset at the start of each epoch and detached between batches), mean
cross-entropy, the global gradient norm clipped to 0.01, plain SGD with lr 100. The book
prints the training perplexity every 50 epochs: 64 / 7 / 2.0 / 1.28 at 50 / 100 / 150 / 200.

The lyrics are not ours to ship, so rnnlab's preset runs on the shipped Tang poems and
ends far higher. This script runs the book's own loop (its `data_iter_consecutive` from
offset 0, `rnn` with one bias b_h, `grad_clipping` as theta / norm and `sgd`, written here
in PyTorch and sharing no code with rnnlab's training) on all 10,000 characters, as the
book trains (no held-out split, sorted vocabulary), then the preset itself, and prints
both training-perplexity curves. Torch draws its own initial weights, so the two agree
within seed noise, not digit for digit (tests/test_charlm_presets.py checks the preset
digit for digit against a NumPy transcription of the book that draws the preset's
weights). If they agree, the gap to the book comes from the text, not from rnnlab.

    python examples/d2l_reference.py                 # both, 200 epochs (~3-12 min each on 1 core)
    python examples/d2l_reference.py --random-offset --seed 1
    python examples/d2l_reference.py --epochs 50 --skip-rnnlab

Needs torch (`pip install -e '.[torch]'`).
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnlab import api
from rnnlab.data import load_corpus, prepare_chars

HIDDEN, BATCH, STEPS, LR, THETA = 256, 32, 35, 100.0, 0.01


def data_iter_consecutive(corpus_indices: torch.Tensor, batch_size: int, num_steps: int, offset: int = 0):
    """The book's adjacent sampling: B rows of the stream, read T steps at a time. The book starts
    at 0 every epoch; its English edition (and rnnlab) at a random offset in [0, T)."""
    corpus_indices = corpus_indices[offset:]
    batch_len = len(corpus_indices) // batch_size
    indices = corpus_indices[: batch_size * batch_len].reshape(batch_size, batch_len)  # (B, L)
    for i in range((batch_len - 1) // num_steps):
        start = i * num_steps
        yield indices[:, start:start + num_steps], indices[:, start + 1:start + num_steps + 1]  # (B, T) each


def get_params(vocab_size: int, generator: torch.Generator):
    def normal(shape):
        return (torch.randn(shape, generator=generator) * 0.01).requires_grad_()

    zeros = lambda n: torch.zeros(n, requires_grad=True)  # noqa: E731
    return [normal((vocab_size, HIDDEN)), normal((HIDDEN, HIDDEN)), zeros(HIDDEN),  # W_xh, W_hh, b_h
            normal((HIDDEN, vocab_size)), zeros(vocab_size)]  # W_hq, b_q


def rnn(inputs, state, params):
    """H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h), Y_t = H_t W_hq + b_q, one step at a time."""
    w_xh, w_hh, b_h, w_hq, b_q = params
    hidden = state
    outputs = []
    for x in inputs:  # (B, V) one-hot rows
        hidden = torch.tanh(x @ w_xh + hidden @ w_hh + b_h)
        outputs.append(hidden @ w_hq + b_q)
    return outputs, hidden


def grad_clipping(params, theta: float) -> None:
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params))  # the book's: no epsilon
    if norm > theta:
        for p in params:
            p.grad *= theta / norm


def train_reference(ids: torch.Tensor, vocab_size: int, epochs: int, seed: int, report_every: int,
                    random_offset: bool = False):
    """The book's train_and_predict_rnn (consecutive sampling) -> {epoch: training perplexity}."""
    generator = torch.Generator().manual_seed(seed)
    params = get_params(vocab_size, generator)
    curve = {}
    for epoch in range(1, epochs + 1):
        state = torch.zeros(BATCH, HIDDEN)  # reset at the start of every epoch
        loss_sum, count = 0.0, 0
        offset = int(torch.randint(STEPS, (1,), generator=generator)) if random_offset else 0
        for x, y in data_iter_consecutive(ids, BATCH, STEPS, offset):
            state = state.detach()
            inputs = [F.one_hot(column, vocab_size).float() for column in x.T]  # T tensors of (B, V)
            outputs, state = rnn(inputs, state, params)
            targets = y.T.reshape(-1)  # time-major, as the outputs are concatenated
            loss = F.cross_entropy(torch.cat(outputs, dim=0), targets)  # the mean over T * B
            for p in params:
                p.grad = None
            loss.backward()
            grad_clipping(params, THETA)
            with torch.no_grad():
                for p in params:
                    p -= LR * p.grad  # the book's sgd(params, lr, 1): the loss is already a mean
            loss_sum += loss.item()
            count += 1
        if epoch % report_every == 0:
            curve[epoch] = math.exp(loss_sum / count)  # the book's: exp(sum of batch losses / batches)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-every", type=int, default=50)
    parser.add_argument("--skip-rnnlab", action="store_true", help="run only the book's loop")
    parser.add_argument("--random-offset", action="store_true",
                        help="start each epoch's rows at a random offset in [0, 35), as rnnlab's sampler does")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny products: threads only contend

    text = prepare_chars(load_corpus("tang300"), max_chars=10000, newlines="space")
    vocabulary = sorted(set(text))
    index = {char: i for i, char in enumerate(vocabulary)}
    ids = torch.tensor([index[char] for char in text])  # all of it, as the book trains (and the preset)
    print(f"tang300, first {len(text):,} characters, newlines as spaces: vocabulary {len(vocabulary):,}, "
          f"all of them trained on")

    start = time.perf_counter()
    reference = train_reference(ids, len(vocabulary), args.epochs, args.seed, args.report_every,
                                args.random_offset)
    print(f"the book's loop in PyTorch: {time.perf_counter() - start:.0f} s")
    ours = {}
    if not args.skip_rnnlab:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            run_dir = Path(folder) / "d2l"
            api.train("charlm", preset="d2l", epochs=args.epochs, eval_every=args.report_every, seed=args.seed,
                      quiet=True, run_dir=run_dir)
            rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        print(f"rnnlab train charlm --preset d2l: {time.perf_counter() - start:.0f} s")
        ours = {row["epoch"]: row["train_ppl"] for row in rows}

    print("\n| epoch | the book (lyrics) | the book's loop on tang300 | rnnlab --preset d2l on tang300 |")
    print("| ---: | ---: | ---: | ---: |")
    book = {50: "64", 100: "7", 150: "2.0", 200: "1.28"}
    for epoch in sorted(reference):
        ours_text = f"{ours[epoch]:.2f}" if epoch in ours else "-"
        print(f"| {epoch} | {book.get(epoch, '-')} | {reference[epoch]:.2f} | {ours_text} |")


if __name__ == "__main__":
    main()
