"""The engines the benchmark compares: each `build_x(spec, weights, data, threads) -> step()`.

One training step, the same on every engine:
    forward (T, B) token ids -> logits (T, B, V); softmax cross-entropy, mean over T*B;
    backward; clip the global gradient norm to 0.25; plain SGD update (lr 1.0).
The recurrent state is carried from step to step, detached. float32 throughout.

`numpy` is rnnlab's engine; `torch` is plain torch.nn, the bar (on the CPU its RNN layers
run as oneDNN's fused RNN kernel); `torch-no-onednn` is the same with that kernel switched
off, i.e. torch's per-step loop of separate ops, the way the NumPy engine works;
`rnnlab-torch` is `rnnlab train --backend torch`. Adding an engine: write a builder and
register it in ENGINES; the report grows a column by itself.
"""
from __future__ import annotations

import functools
import importlib.util
from typing import Callable, Dict, Optional

import numpy as np

from rnnlab.engine.optim import SGD, clip_grad_norm
from rnnlab.models import ModelConfig, NumpyModel

CLIP, LR = 0.25, 1.0
HAVE_TORCH = importlib.util.find_spec("torch") is not None  # imported only by the engines that use it


def _torch():
    import torch

    return torch


def make_data(spec: dict, batches: int = 4, seed: int = 0):
    """A few (inputs, targets) pairs of (T, B) int64 ids, cycled through by every engine."""
    rng = np.random.default_rng(seed)
    vin, vout = spec["model"]["input_size"], spec["model"]["output_size"]
    return [(rng.integers(0, vin, (spec["T"], spec["B"])), rng.integers(0, vout, (spec["T"], spec["B"])))
            for _ in range(batches)]


def make_weights(spec: dict) -> dict:
    return NumpyModel(ModelConfig(**spec["model"]), seed=0).state_dict()


# ------------------------------------------------------------------------------ engines
def build_rnnlab(spec: dict, weights: dict, data: list, threads: int,
                 device: Optional[str] = None) -> Callable[[], float]:
    """rnnlab's NumPy engine, used the way rnnlab.train does (LanguageModelTask.window_loss).

    With `device`, the same loop drives rnnlab's torch backend (`--backend torch`): the model
    runs torch.nn on that device and hands NumPy arrays back, as in `rnnlab train`.
    """
    if device is None:
        model = NumpyModel(ModelConfig(**spec["model"]), seed=0)
    else:
        from rnnlab.backends.torch import TorchModel
        _torch().set_num_threads(threads)
        model = TorchModel(ModelConfig(**spec["model"]), seed=0, device=device)
    model.load_state_dict(weights)
    model.train()
    opt = SGD(model.params, lr=LR) if device is None else model.make_optimizer("sgd", lr=LR)
    box = {"state": None, "i": 0}

    def step() -> float:
        inputs, targets = data[box["i"] % len(data)]
        box["i"] += 1
        model.zero_grad()
        loss, state = model.loss(inputs, targets, box["state"])  # what `rnnlab train` runs per window
        if device is None:
            clip_grad_norm(model.grads, CLIP)
            opt.step(model.grads)
        else:
            model.clip_grad_norm(CLIP)
            opt.step()
        box["state"] = state  # plain arrays: already detached
        return loss

    return step


def build_torch(spec: dict, weights: dict, data: list, threads: int, device: str = "cpu",
                onednn: bool = True) -> Callable[[], float]:
    """Plain torch.nn: nn.LSTM/GRU/RNN, nn.Embedding or one-hot, nn.Linear, F.cross_entropy, optim.SGD.

    On the CPU, torch.nn.LSTM/GRU/RNN run as oneDNN's fused RNN primitive (`aten::mkldnn_rnn_layer`:
    the whole sequence's gates, products and backward in one kernel). `onednn=False` turns that off
    for the step, which leaves torch's own per-step loop of aten ops: the column that shows how
    much of torch's speed is that kernel.
    """
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional
    torch.set_num_threads(threads)
    m = ModelConfig(**spec["model"])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if m.input == "embedding":
                self.embedding = nn.Embedding(m.input_size, m.embedding_size)
            kinds = {"lstm": nn.LSTM, "gru": nn.GRU}
            extra = {} if m.cell in kinds else {"nonlinearity": m.nonlinearity}
            self.rnn = kinds.get(m.cell, nn.RNN)(m.recurrent_input_size, m.hidden_size, m.num_layers, **extra)
            self.head = nn.Linear(m.hidden_size, m.output_size)

        def forward(self, ids, state):
            x = self.embedding(ids) if m.input == "embedding" else F.one_hot(ids, m.input_size).float()
            y, state = self.rnn(x, state)
            return self.head(y), state

    net = Net()
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    net.to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    tdata = [(torch.from_numpy(i).to(device), torch.from_numpy(t).reshape(-1).to(device)) for i, t in data]
    V = m.output_size
    box = {"state": None, "i": 0}

    def step() -> float:
        inputs, targets = tdata[box["i"] % len(tdata)]
        box["i"] += 1
        opt.zero_grad()
        logits, state = net(inputs, box["state"])
        loss = F.cross_entropy(logits.reshape(-1, V), targets)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        box["state"] = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return loss.item()

    if onednn:
        return step

    def step_without_onednn() -> float:
        enabled = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            return step()
        finally:
            torch.backends.mkldnn.enabled = enabled

    return step_without_onednn


ENGINES: Dict[str, Callable] = {"numpy": build_rnnlab}
if HAVE_TORCH:
    ENGINES["torch"] = build_torch  # plain torch.nn on the CPU: the bar
    ENGINES["torch-no-onednn"] = functools.partial(build_torch, onednn=False)  # the same, oneDNN's RNN off
    ENGINES["rnnlab-torch"] = functools.partial(build_rnnlab, device="cpu")  # rnnlab train --backend torch


def all_engines() -> Dict[str, Callable]:
    """ENGINES plus, when torch sees a GPU, the same engines on it (loss.item() synchronises every step)."""
    engines = dict(ENGINES)
    if HAVE_TORCH and _torch().cuda.is_available():
        engines["torch-cuda"] = functools.partial(build_torch, device="cuda")
        engines["rnnlab-torch-cuda"] = functools.partial(build_rnnlab, device="cuda")
    return engines
