"""d2l's RNN chapter from scratch (Chinese edition, "循环神经网络的从零开始实现"), in plain NumPy.

The book trains a character-level tanh RNN on Jay Chou lyrics with one-hot inputs,
consecutive (adjacent) sampling, softmax cross-entropy averaged over every prediction of a
batch, gradient clipping by the global norm and SGD, and every `pred_period` epochs prints
the perplexity and a greedy continuation of each prefix. The book writes it with MXNet (or
PyTorch) autograd; here the same math is written in NumPy with the backward through time by
hand (checked against central differences in tests/test_oracles.py). Names follow the book:
get_params, init_rnn_state, rnn, grad_clipping, sgd, predict_rnn, data_iter_consecutive,
train_and_predict_rnn; the parameters are W_xh, W_hh, b_h, W_hq, b_q.

The program, step by step:
- vocabulary: idx_to_char, char_to_idx; corpus_indices = [char_to_idx[c] for c in corpus];
- params: W_xh (V, H), W_hh (H, H), b_h (H,) zeros, W_hq (H, V), b_q (V,) zeros;
- per epoch: state = zeros (B, H); for each consecutive window (X, Y) of data_iter_consecutive:
  the state is detached (the window's backward stops at its first step), forward
  H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h), O_t = H_t W_hq + b_q, loss l = mean over all
  T*B of cross-entropy(softmax(O_t), Y_t) with Y taken time-major (Y.T flattened);
  backward; grad_clipping(params, theta); sgd(params, lr, 1) i.e. p -= lr * grad (the loss
  is already a mean);
- when (epoch + 1) % pred_period == 0 it prints "epoch %d, perplexity %f" and, per prefix,
  " - " + predict_rnn(prefix, pred_len) (the book's `print(' -', text)`).

Where this oracle has to choose, and what a faithful rnnlab preset must do the same way:
- Vocabulary order. The book takes idx_to_char = list(set(corpus_chars)), whose order
  changes from one Python process to the next (string hashing is salted). We take
  sorted(set(corpus_chars)) unless `idx_to_char` is passed in.
- Initial weights. The book draws normal(0, 0.01) from MXNet's (or torch's) generator, which
  NumPy cannot reproduce. We draw with rng = np.random.default_rng(seed), in the order W_xh,
  W_hh, W_hq, each as rng.normal(0.0, 0.01, size=shape) in float64 and then cast to dtype.
- The time the book prints ("time %.2f sec") is left out so that lines compare.
- Perplexity = exp(sum of the epoch's batch losses / number of batches). The book computes
  exp(l_sum / n) with l_sum = sum of loss * tokens and n = sum of tokens; every batch of the
  consecutive sampler has B*T tokens, so the two are the same number. The sum is kept in
  float64 (Python floats) over the float32 batch losses.
- Arithmetic is in `dtype` (float32 as the book); the clipping norm is accumulated in float64
  and the factor theta / norm applied in dtype.
"""

# ruff: noqa: UP031  (the book's %-format strings, kept as printed)
import math

import numpy as np


def make_vocab(corpus_chars, idx_to_char=None):
    """Return (idx_to_char, char_to_idx): sorted distinct characters unless an order is given."""
    idx_to_char = sorted(set(corpus_chars)) if idx_to_char is None else list(idx_to_char)
    char_to_idx = {char: i for i, char in enumerate(idx_to_char)}
    return idx_to_char, char_to_idx


def get_params(vocab_size, num_hiddens, seed=0, dtype=np.float32):
    """[W_xh, W_hh, b_h, W_hq, b_q]; the weights normal(0, 0.01) drawn in that order, biases 0."""
    rng = np.random.default_rng(seed)
    num_inputs = num_outputs = vocab_size

    def _one(shape):
        return rng.normal(0.0, 0.01, size=shape).astype(dtype)

    W_xh = _one((num_inputs, num_hiddens))   # (V, H)
    W_hh = _one((num_hiddens, num_hiddens))  # (H, H)
    b_h = np.zeros(num_hiddens, dtype=dtype)  # (H,)
    W_hq = _one((num_hiddens, num_outputs))  # (H, V)
    b_q = np.zeros(num_outputs, dtype=dtype)  # (V,)
    return [W_xh, W_hh, b_h, W_hq, b_q]


def init_rnn_state(batch_size, num_hiddens, dtype=np.float32):
    return (np.zeros((batch_size, num_hiddens), dtype=dtype),)


def to_onehot(X, size, dtype=np.float32):
    """(B, T) indices -> list of T one-hot (B, V) arrays, time-major as the book's to_onehot."""
    return [np.eye(size, dtype=dtype)[x] for x in X.T]


def rnn(inputs, state, params):
    """Forward through time. Returns (outputs, (H,), cache) with cache = the hidden states.

    H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h);  O_t = H_t W_hq + b_q.
    """
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs, Hs = [], [H]
    for X in inputs:
        H = np.tanh(np.dot(X, W_xh) + np.dot(H, W_hh) + b_h)  # (B, H)
        Y = np.dot(H, W_hq) + b_q  # (B, V)
        outputs.append(Y)
        Hs.append(H)
    return outputs, (H,), Hs


def softmax_cross_entropy_mean(outputs, y):
    """Mean over all rows of -log softmax(outputs)[y]; returns (loss, d loss / d outputs).

    outputs (N, V) with N = T*B time-major, y (N,) integer labels.
    """
    shifted = outputs - outputs.max(axis=1, keepdims=True)  # (N, V)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)  # (N, 1)
    rows = np.arange(len(y))
    loss = (np.log(sum_exp[:, 0]) - shifted[rows, y]).mean()
    doutputs = exp / sum_exp  # softmax
    doutputs[rows, y] -= 1
    doutputs /= len(y)
    return loss, doutputs


def rnn_backward(inputs, Hs, doutputs, params):
    """Backward through the window; the state entering it is detached (gets no gradient).

    dO_t given; dH_t = dO_t W_hq^T + dA_{t+1} W_hh^T; dA_t = dH_t * (1 - H_t^2);
    dW_hq = sum H_t^T dO_t, db_q = sum dO_t, dW_xh = sum X_t^T dA_t,
    dW_hh = sum H_{t-1}^T dA_t, db_h = sum dA_t. Returns grads in the order of params.
    """
    _, W_hh, _, W_hq, _ = params
    grads = [np.zeros_like(p) for p in params]
    dW_xh, dW_hh, db_h, dW_hq, db_q = grads
    dH_next = np.zeros_like(Hs[0])  # (B, H)
    for t in reversed(range(len(inputs))):
        dO = doutputs[t]  # (B, V)
        dW_hq += np.dot(Hs[t + 1].T, dO)
        db_q += dO.sum(axis=0)
        dH = np.dot(dO, W_hq.T) + dH_next  # (B, H)
        dA = dH * (1 - Hs[t + 1] ** 2)  # through tanh
        dW_xh += np.dot(inputs[t].T, dA)
        dW_hh += np.dot(Hs[t].T, dA)
        db_h += dA.sum(axis=0)
        dH_next = np.dot(dA, W_hh.T)
    return grads


def loss_and_grads(X, Y, state, params, vocab_size):
    """One window: forward, mean cross-entropy, backward. Returns (loss, grads, new state)."""
    inputs = to_onehot(X, vocab_size, params[0].dtype)
    outputs, state, Hs = rnn(inputs, state, params)
    outputs = np.concatenate(outputs, axis=0)  # (T*B, V), time-major
    y = Y.T.reshape((-1,))  # (T*B,)
    loss, doutputs = softmax_cross_entropy_mean(outputs, y)
    grads = rnn_backward(inputs, Hs, np.split(doutputs, len(inputs)), params)
    return float(loss), grads, state


def grad_clipping(grads, theta):
    """Scale all gradients by theta / norm when their global L2 norm exceeds theta."""
    norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads))
    if norm > theta:
        for g in grads:
            g *= g.dtype.type(theta / norm)


def sgd(params, grads, lr, batch_size):
    """The book's d2l.sgd: p -= lr * grad / batch_size (called with batch_size 1 here)."""
    for p, g in zip(params, grads):
        p -= p.dtype.type(lr) * g / batch_size


def predict_rnn(prefix, num_chars, params, num_hiddens, vocab_size, idx_to_char, char_to_idx):
    """Feed the prefix from a zero state, then num_chars greedy (argmax) characters."""
    dtype = params[0].dtype
    state = init_rnn_state(1, num_hiddens, dtype)
    output = [char_to_idx[prefix[0]]]
    for t in range(num_chars + len(prefix) - 1):
        X = to_onehot(np.array([[output[-1]]]), vocab_size, dtype)
        (Y, state, _) = rnn(X, state, params)
        if t < len(prefix) - 1:
            output.append(char_to_idx[prefix[t + 1]])
        else:
            output.append(int(Y[0].argmax(axis=1)[0]))
    return "".join([idx_to_char[i] for i in output])


def data_iter_consecutive(corpus_indices, batch_size, num_steps):
    """Adjacent windows from offset 0: row b of every batch continues row b of the last.

        corpus: c0 c1 c2 ... -> indices (batch_size, batch_len), row-major
        window i: X = indices[:, i*T : i*T+T], Y = indices[:, i*T+1 : i*T+T+1]
    """
    corpus_indices = np.asarray(corpus_indices)
    data_len = len(corpus_indices)
    batch_len = data_len // batch_size
    indices = corpus_indices[0: batch_size * batch_len].reshape((batch_size, batch_len))
    epoch_size = (batch_len - 1) // num_steps
    for i in range(epoch_size):
        i = i * num_steps
        X = indices[:, i: i + num_steps]  # (B, T)
        Y = indices[:, i + 1: i + num_steps + 1]  # (B, T)
        yield X, Y


def train_and_predict_rnn(corpus_chars, num_hiddens=256, num_steps=35, batch_size=32, lr=100,
                          clipping_theta=0.01, num_epochs=200, pred_period=50,
                          prefixes=("分开", "不分开"), pred_len=50, seed=0, dtype=np.float32,
                          idx_to_char=None):
    """The book's training loop with consecutive sampling. Returns (printed lines, params)."""
    idx_to_char, char_to_idx = make_vocab(corpus_chars, idx_to_char)
    vocab_size = len(idx_to_char)
    corpus_indices = [char_to_idx[char] for char in corpus_chars]
    params = get_params(vocab_size, num_hiddens, seed, dtype)
    lines = []
    for epoch in range(num_epochs):
        state = init_rnn_state(batch_size, num_hiddens, dtype)  # consecutive: zeros per epoch
        l_sum, num_batches = 0.0, 0
        for X, Y in data_iter_consecutive(corpus_indices, batch_size, num_steps):
            # the state carries over but is detached: rnn_backward stops at the window's start
            loss, grads, state = loss_and_grads(X, Y, state, params, vocab_size)
            grad_clipping(grads, clipping_theta)
            sgd(params, grads, lr, 1)  # the loss is already a mean
            l_sum += loss
            num_batches += 1
        if (epoch + 1) % pred_period == 0:
            lines.append("epoch %d, perplexity %f" % (epoch + 1, math.exp(l_sum / num_batches)))
            for prefix in prefixes:
                lines.append(" - " + predict_rnn(prefix, pred_len, params, num_hiddens, vocab_size,
                                                 idx_to_char, char_to_idx))
    return lines, params


def train(corpus_chars, num_hiddens=256, num_steps=35, batch_size=32, lr=100, clipping_theta=0.01,
          num_epochs=200, pred_period=50, prefixes=("分开", "不分开"), pred_len=50, seed=0,
          dtype=np.float32, idx_to_char=None):
    """Return the lines the book prints: per pred_period, the perplexity and one line per prefix."""
    return train_and_predict_rnn(corpus_chars, num_hiddens, num_steps, batch_size, lr, clipping_theta,
                                 num_epochs, pred_period, prefixes, pred_len, seed, dtype,
                                 idx_to_char)[0]


if __name__ == "__main__":
    import gzip
    import sys
    from pathlib import Path

    # usage: python d2l.py [text file] -- default: the first 10,000 characters of rnnlab's tang300
    default = Path(__file__).resolve().parents[2] / "src/rnnlab/data/corpora/tang300.txt.gz"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        corpus_chars = f.read().replace("\n", " ").replace("\r", " ")[:10000]
    for line in train(corpus_chars, prefixes=(corpus_chars[:2], corpus_chars[:3])):
        print(line)
