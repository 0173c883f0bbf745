"""The benchmark's configurations and its FLOP model: matrix-product FLOPs of one training step.

Gate counts come from the cell registry (rnnlab.engine.registry), so a new cell is counted
without touching this file.
"""
from __future__ import annotations

from typing import Dict

from rnnlab.engine.registry import get_cell
from rnnlab.models import ModelConfig

# name -> (model settings, steps T, batch B)
CONFIGS: Dict[str, dict] = {
    "a": dict(model=dict(input="onehot", input_size=65, output_size=65, cell="lstm", hidden_size=512,
                         num_layers=1), T=100, B=32,
              about="char: one-hot 65 -> LSTM 512 -> 65, B 32, T 100"),
    "a-gru": dict(model=dict(input="onehot", input_size=65, output_size=65, cell="gru", hidden_size=512,
                             num_layers=1), T=100, B=32, about="(a) with a GRU"),
    "a-rnn": dict(model=dict(input="onehot", input_size=65, output_size=65, cell="rnn", hidden_size=512,
                             num_layers=1), T=100, B=32, about="(a) with a tanh RNN"),
    "charlm": dict(model=dict(input="onehot", input_size=65, output_size=65, cell="lstm", hidden_size=512,
                              num_layers=1), T=25, B=64,
                   about="the main command's model: one-hot 65 -> LSTM 512 -> 65, B 64, T 25"),
    "b": dict(model=dict(input="embedding", input_size=10000, output_size=10000, cell="lstm", hidden_size=200,
                         embedding_size=200, num_layers=2), T=35, B=20,
              about="word: embedding 10k x 200 -> 2-layer LSTM 200 -> 10k, B 20, T 35"),
    "c-gru": dict(model=dict(input="embedding", input_size=10000, output_size=10000, cell="gru", hidden_size=200,
                             embedding_size=200, num_layers=2), T=35, B=20, about="(b) with a GRU"),
    "c-rnn": dict(model=dict(input="embedding", input_size=10000, output_size=10000, cell="rnn", hidden_size=200,
                             embedding_size=200, num_layers=2), T=35, B=20, about="(b) with a tanh RNN"),
}
DEFAULT_CONFIGS = "a,b,c-gru,c-rnn"


def with_sizes(spec: dict, hidden_size=None, T=None, B=None) -> dict:
    """A copy of `spec` with another hidden size, sequence length or batch (the scaling sweep)."""
    model = dict(spec["model"])
    if hidden_size is not None:
        model["hidden_size"] = hidden_size
    t, b = T or spec["T"], B or spec["B"]
    return dict(model=model, T=t, B=b, about=f"{spec['about']} [H {model['hidden_size']}, T {t}, B {b}]")


def num_gates(cell: str) -> int:
    """Gate blocks stacked in W_ih / W_hh (the cell registry's answer: LSTM 4, GRU 3, RNN 1)."""
    return get_cell(cell).num_gates


def step_flops(spec: dict) -> int:
    """Matrix-product FLOPs of one training step (2 per multiply-add; elementwise work not counted).

    N = T*B rows, G = gates*H, I = the layer's input width (V for one-hot, E, or H above layer 0):
      per layer   input projection           x @ W_ih^T              2 N I G
                  recurrent, forward          h_{t-1} @ W_hh^T        2 N H G
                  recurrent, backward         dg_t @ W_hh  (dh_{t-1})  2 N G H
                  hidden-weight grad          dW_hh = dg^T h          2 N G H
                  input-weight grad           dW_ih = dg^T x          2 N G I
                  input grad                  dx = dg @ W_ih          2 N G I  (not for a one-hot layer 0)
      head        forward                     h @ W^T                 2 N H V
                  backward                    dW = dz^T h, dh = dz W  2 * 2 N H V
    The embedding lookup / scatter and the one-hot encoding are not products and not counted.
    """
    m = ModelConfig(**spec["model"])
    n, hid, g = spec["T"] * spec["B"], m.hidden_size, num_gates(m.cell) * m.hidden_size
    total = 0
    for layer in range(m.num_layers):
        width = m.recurrent_input_size if layer == 0 else hid
        total += 2 * n * width * g                      # input projection
        total += 3 * 2 * n * hid * g                    # recurrent: forward, backward dh, dW_hh
        total += 2 * n * g * width                      # dW_ih
        if not (layer == 0 and m.input == "onehot"):
            total += 2 * n * g * width                  # dx
    total += 3 * 2 * n * hid * m.output_size           # head: forward + 2 backward products
    return total
