"""A model = input (one-hot | embedding | dense) + recurrent stack + linear head.

One `ModelConfig` describes it; `NumpyModel` builds it on the NumPy engine and
`rnnlab.backends.torch` builds the same thing on PyTorch, with the same parameter
names (`embedding.weight`, `projection.weight`, `rnn.weight_ih_l0`, `head.weight`, ...),
so weights move between the two unchanged.

    inputs (T, B) ids  --one-hot/embedding-->  (T, B, E)  --dropout-->  [projection]
        --> recurrent stack (T, B, H)  --dropout-->  [head_projection]  --> head
        --> outputs (T, B, output_size)

Tied weights with E != H (Press & Wolf 2017) put a bias-free `head_projection` (H -> E)
before the head, so the stack can be wider (or narrower) than the embedding it shares
with the head. The head's cost per token is E x V, so a narrow E makes it cheaper.

With `adaptive_cutoffs` the head is an adaptive softmax (engine/adaptive.py; NumPy engine
only). `forward` then returns log-probabilities, which serve every reader of logits
(softmax of them is the model's distribution), and training goes through `loss`, which
scores only what the targets need.

Left out: attention, layer norm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Optional, Union

import numpy as np

from rnnlab.engine import make_recurrent
from rnnlab.engine.adaptive import AdaptiveSoftmax, check_cutoffs
from rnnlab.engine.init import glorot_uniform, orthogonal, set_forget_biases
from rnnlab.engine.layers import Dropout, Embedding, Linear, OneHot
from rnnlab.engine.losses import softmax_cross_entropy
from rnnlab.engine.registry import cell_names, get_cell

INPUTS = ("onehot", "embedding", "dense")
INITS = ("pytorch", "normal", "uniform", "orthogonal", "d2l", "keras")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model (saved in every checkpoint)."""

    input: str = "embedding"  # onehot | embedding (token ids in) | dense (real features in)
    input_size: int = 0  # vocabulary size (onehot/embedding) or features per step (dense)
    output_size: int = 0  # vocabulary size, or regression outputs
    cell: str = "lstm"  # a registered cell (engine/registry.py): rnn | lstm | gru | peephole | minimal-lstm
    nonlinearity: str = "tanh"  # rnn only: tanh | relu | sigmoid (sigmoid: NumPy engine only)
    hidden_size: int = 256
    num_layers: int = 1
    embedding_size: int = 0  # 0: same as hidden_size
    projection_size: int = 0  # >0: a dense layer between input and recurrent stack (sin->cos net)
    dropout: float = 0.0  # on the embedding, between layers, and before the head
    locked_dropout: bool = False  # the same dropout mask at every time step
    weight_dropout: float = 0.0  # DropConnect on the recurrent weights W_hh, one mask per batch
    tied: bool = False  # head.weight is embedding.weight (E != H adds a head_projection H -> E)
    bias: bool = True  # biases in the recurrent stack and the head
    hidden_bias: bool = True  # False: one recurrent bias per gate (b_ih, no b_hh), as d2l and nicodjimenez write it
    init: str = "pytorch"  # pytorch | normal (std init_scale) | uniform (±init_scale) | orthogonal | d2l | keras
    init_scale: float = 0.1
    bias_value: Optional[float] = None  # every bias set to this (None: as the init says)
    forget_bias: Optional[float] = None  # cells with a forget gate: total forget-gate bias (b_ih + b_hh)
    adaptive_cutoffs: tuple = ()  # () a full softmax head; else an adaptive softmax's cluster starts
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.embedding_size == 0:
            self.embedding_size = self.hidden_size
        self.adaptive_cutoffs = tuple(self.adaptive_cutoffs)  # a list when read from JSON

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """ValueError with a sentence for settings that cannot work."""
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {self.input!r}")
        if self.cell not in cell_names():
            raise ValueError(f"cell must be one of {', '.join(cell_names())}, got {self.cell!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        for name in ("input_size", "output_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.embedding_size < 1 or self.projection_size < 0:
            raise ValueError(
                f"embedding size (--embedding-size) must be a positive integer or 0 for the hidden "
                f"size, and projection size >= 0; got {self.embedding_size} and {self.projection_size}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.weight_dropout < 1.0:
            raise ValueError(f"weight_dropout must be in [0, 1), got {self.weight_dropout}")
        if self.tied:
            if self.input != "embedding":
                raise ValueError("tied weights need an embedding input")
            if self.input_size != self.output_size:
                raise ValueError(
                    f"tied weights need input vocabulary == output vocabulary ({self.input_size} vs {self.output_size})"
                )
        if self.adaptive_cutoffs:
            check_cutoffs(self.adaptive_cutoffs, self.output_size)

    @property
    def recurrent_input_size(self) -> int:
        if self.projection_size:
            return self.projection_size
        return self.embedding_size if self.input == "embedding" else self.input_size

    @property
    def head_projection_size(self) -> int:
        """Width of the bias-free H -> E layer before a tied head whose E differs from H, else 0."""
        return self.embedding_size if self.tied and self.embedding_size != self.hidden_size else 0


class NumpyModel:
    """The model on the NumPy engine: `forward(inputs, state) -> (outputs, state)`, `backward(d_outputs)`."""

    def __init__(self, config: ModelConfig, seed: Optional[int] = None) -> None:
        config.validate()
        self.config = config
        dtype = np.dtype(config.dtype)
        seeds = np.random.SeedSequence(seed).spawn(7)  # (children 0-5 do not depend on the count)
        self.layers: dict = {}  # name -> engine module, in forward order
        self.encoder: Optional[Union[OneHot, Embedding]]  # None for dense inputs
        if config.input == "onehot":
            self.encoder = OneHot(config.input_size, dtype=dtype)
        elif config.input == "embedding":
            self.encoder = Embedding(config.input_size, config.embedding_size, dtype=dtype, seed=seeds[0])
            self.layers["embedding"] = self.encoder
        else:
            self.encoder = None
        self.input_dropout = Dropout(
            config.dropout if config.input == "embedding" else 0.0, locked=config.locked_dropout, seed=seeds[1]
        )
        self.projection: Optional[Linear] = None
        if config.projection_size:
            in_features = config.embedding_size if config.input == "embedding" else config.input_size
            self.projection = Linear(in_features, config.projection_size, dtype=dtype, seed=seeds[2])
            self.layers["projection"] = self.projection
        self.rnn = make_recurrent(
            config.cell,
            config.recurrent_input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            bias=config.bias,
            hidden_bias=config.hidden_bias,
            dropout=config.dropout,
            dtype=dtype,
            seed=seeds[3],
            nonlinearity=config.nonlinearity,
            locked_dropout=config.locked_dropout,
            weight_dropout=config.weight_dropout,
        )
        self.layers["rnn"] = self.rnn
        self.output_dropout = Dropout(config.dropout, locked=config.locked_dropout, seed=seeds[4])
        self.head_projection: Optional[Linear] = None
        if config.head_projection_size:
            self.head_projection = Linear(
                config.hidden_size, config.head_projection_size, bias=False, dtype=dtype, seed=seeds[6]
            )
            self.layers["head_projection"] = self.head_projection
        head_in = config.head_projection_size or config.hidden_size
        self.head: Union[Linear, AdaptiveSoftmax]  # AdaptiveSoftmax exactly when config.adaptive_cutoffs
        if config.adaptive_cutoffs:
            self.head = AdaptiveSoftmax(
                head_in, config.output_size, config.adaptive_cutoffs, bias=config.bias, dtype=dtype, seed=seeds[5]
            )
        else:
            self.head = Linear(head_in, config.output_size, bias=config.bias, dtype=dtype, seed=seeds[5])
        self.layers["head"] = self.head
        initialize(self.named_parameters(), config, np.random.default_rng(seed))
        if config.tied:  # one array and one gradient, two users (backward runs the head first, see Linear)
            assert isinstance(self.encoder, Embedding)  # validate(): tied weights need an embedding input
            self.head.params["weight"] = self.encoder.params["weight"]
            self.head.grads["weight"] = self.encoder.grads["weight"]
        self.params = self.named_parameters()
        self.grads = {name: self.layers[name.split(".")[0]].grads[name.split(".", 1)[1]] for name in self.params}
        self.training = True

    # --------------------------------------------------------------------- parameters
    def named_parameters(self) -> dict:
        """Flat {'rnn.weight_ih_l0': array, ...}; the tied head weight appears once, as the embedding."""
        named = {}
        for prefix, layer in self.layers.items():
            for name, value in layer.params.items():
                if prefix == "head" and name == "weight" and self.config.tied:
                    continue
                named[f"{prefix}.{name}"] = value
        return named

    def zero_grad(self) -> None:
        for layer in self.layers.values():
            layer.zero_grad()

    def state_dict(self) -> dict:
        return {name: value.copy() for name, value in self.params.items()}

    def load_state_dict(self, state: dict) -> None:
        missing = sorted(set(self.params) - set(state))
        unexpected = sorted(set(state) - set(self.params))
        if missing or unexpected:
            raise KeyError(f"weights do not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        for name, value in state.items():
            value = np.asarray(value)
            if value.shape != self.params[name].shape:
                raise ValueError(f"{name}: the model has shape {self.params[name].shape}, the weights {value.shape}")
            self.params[name][...] = value

    def num_parameters(self) -> int:
        return sum(value.size for value in self.params.values())

    def train(self, mode: bool = True) -> NumpyModel:
        self.training = mode
        for module in (self.input_dropout, self.output_dropout, *self.layers.values()):
            module.train(mode)
        return self

    def eval(self) -> NumpyModel:
        return self.train(False)

    def rngs(self) -> dict:
        """The random generators that training draws from (dropout masks), by name, for checkpoints."""
        return {"rnn": self.rnn.rng, "input_dropout": self.input_dropout.rng, "output_dropout": self.output_dropout.rng}

    # ------------------------------------------------------------------ forward/backward
    def init_state(self, batch_size: int):
        return self.rnn.init_state(batch_size)

    def forward(self, inputs: np.ndarray, state=None, record: bool = False):
        """inputs (T, B) ids or (T, B, F) features -> outputs (T, B, output_size), final state.

        The outputs are logits; an adaptive head gives log-probabilities (also logits).
        record=True fills `self.rnn.recorded` (engine/recurrent.py: h, c and every gate per layer).
        """
        features, state = self._features(inputs, state, record)  # (T, B, E or H)
        if isinstance(self.head, AdaptiveSoftmax):  # config.adaptive_cutoffs
            steps, batch, _ = features.shape
            return self.head.log_probs(features).reshape(steps, batch, -1), state
        return self.head.forward(features), state  # (T, B, output_size)

    __call__ = forward

    def backward(self, d_outputs: np.ndarray, d_state=None, bptt_truncate: Optional[int] = None):
        """Adds every parameter gradient into `grads`; returns d(inputs) for dense inputs, else None."""
        if isinstance(self.head, AdaptiveSoftmax):  # config.adaptive_cutoffs
            raise NotImplementedError("an adaptive softmax head trains through `loss`, not forward/backward")
        return self._backward_features(self.head.backward(d_outputs), d_state, bptt_truncate)

    def loss(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        state=None,
        need_grad: bool = True,
        bptt_truncate: Optional[int] = None,
    ):
        """Mean cross-entropy of the next-token targets (T, B) -> (loss, final state); with
        `need_grad`, every parameter gradient added into `grads`. An adaptive head scores
        only what the targets need; it never forms the (T, B, V) outputs."""
        if not isinstance(self.head, AdaptiveSoftmax):  # not config.adaptive_cutoffs
            return logits_loss(self, inputs, targets, state, need_grad, bptt_truncate)
        features, state = self._features(inputs, state)  # (T, B, E)
        loss = self.head.loss(features, targets, need_grad=need_grad)
        if need_grad:
            self._backward_features(self.head.backward().reshape(features.shape), None, bptt_truncate)
        return loss, state

    def _features(self, inputs: np.ndarray, state, record: bool = False):
        """Everything before the head: (T, B, E or H) and the final state."""
        if self.config.input == "onehot" and self.projection is None:
            x = inputs  # (T, B) ids: the recurrent layer reads them as one-hot rows, without the matrix
        else:
            x = self.encoder.forward(inputs) if self.encoder is not None else inputs  # (T, B, E)
            x = self.input_dropout.forward(x)
        if self.projection is not None:
            x = self.projection.forward(x)  # (T, B, P)
        y, state = self.rnn.forward(x, state, record=record)  # (T, B, H)
        y = self.output_dropout.forward(y)
        if self.head_projection is not None:
            y = self.head_projection.forward(y)  # (T, B, E)
        return y, state

    def _backward_features(self, dy: np.ndarray, d_state, bptt_truncate: Optional[int]):
        """From d(features) (T, B, E or H) down to the inputs; the head's backward ran first."""
        if self.head_projection is not None:
            dy = self.head_projection.backward(dy)
        dy = self.output_dropout.backward(dy)  # (T, B, H)
        need_dx = self.config.input != "onehot"
        dx = self.rnn.backward(dy, d_state, bptt_truncate=bptt_truncate, need_input_grad=need_dx)
        if self.projection is not None:
            assert dx is not None  # projections sit on dense or embedded inputs, where need_dx holds
            dx = self.projection.backward(dx)
        if self.config.input == "embedding":
            assert isinstance(self.encoder, Embedding) and dx is not None  # built so for "embedding"
            self.encoder.backward(self.input_dropout.backward(dx))  # tied: adds to the head's gradient
            return None
        return dx if self.config.input == "dense" else None


def logits_loss(model, inputs: np.ndarray, targets: np.ndarray, state, need_grad: bool, bptt_truncate: Optional[int]):
    """`loss` for a model with a full softmax head, on either engine: forward, softmax
    cross-entropy over the (T, B, V) logits in NumPy, backward."""
    logits, state = model.forward(inputs, state)  # (T, B, V)
    steps, batch, vocab = logits.shape
    flat = logits.reshape(steps * batch, vocab)  # not needed again: the gradient overwrites them
    loss, d_logits = softmax_cross_entropy(
        flat, targets.reshape(-1), need_grad=need_grad, out=flat if need_grad else None
    )
    if need_grad:
        assert d_logits is not None  # need_grad asks for it
        model.backward(d_logits.reshape(steps, batch, vocab), bptt_truncate=bptt_truncate)
    return loss, state


def last_step_loss(
    model,
    inputs: np.ndarray,
    targets: np.ndarray,
    state=None,
    need_grad: bool = True,
    bptt_truncate: Optional[int] = None,
):
    """Many-to-one: mean cross-entropy of the last step's logits against one target per sequence.

        L = 1/B sum_b -log softmax(z_{T-1, b})[y_b]        inputs (T, B), targets (B,)

    Only the last step is scored, so the gradient of the logits is zero at every other step
    and the ordinary backward through time carries it (as the adding task's last-step MSE
    does). Either engine -> (loss, final state).
    """
    logits, state = model.forward(inputs, state)  # (T, B, V)
    loss, d_last = softmax_cross_entropy(logits[-1], targets, need_grad=need_grad)  # d_last (B, V)
    if need_grad:
        d_logits = np.zeros_like(logits)  # (T, B, V): only the last step is read
        d_logits[-1] = d_last
        model.backward(d_logits, bptt_truncate=bptt_truncate)
    return loss, state


def initialize(params: dict, config: ModelConfig, rng: np.random.Generator) -> None:
    """Apply the configured initialisation in place (PyTorch's defaults are already there).

    `d2l` is `normal` drawn as d2l's RNN chapter draws it: each weight in the book's (in, out)
    layout (W_xh (V, H), W_hh (H, H), W_hq (H, V), in that order, the transpose of PyTorch's),
    from `rng.normal(0, init_scale)` in float64, then cast; biases zero. With the same seed a
    model starts from the very weights of the book's `get_params` (tests/oracles/d2l.py).

    `keras` is Keras's defaults for LSTM and Dense, mapped onto PyTorch's layout: every input
    kernel and the head glorot_uniform, drawn in Keras's (in, out) layout and transposed;
    every W_hh one semi-orthogonal (G*H, H) matrix (Keras's Orthogonal recurrent_kernel
    (H, G*H), transposed -- not one per gate); biases zero, the forget gate's 1
    (unit_forget_bias); an embedding U(-0.05, 0.05). Keras's gate order i, f, c, o is the
    engine's i, f, g, o, so Keras's kernel column block k is row block k here.
    """
    if config.init == "keras":
        _keras_init(params, config, rng)
        return
    for name, value in params.items():
        is_bias = ".bias" in name
        if config.init == "d2l":
            value[...] = 0.0 if is_bias else rng.normal(0.0, config.init_scale, size=value.shape[::-1]).T
        elif config.init == "normal" and not is_bias:
            value[...] = rng.normal(0.0, config.init_scale, size=value.shape)
        elif config.init == "normal" and is_bias:
            value[...] = 0.0
        elif config.init == "uniform" and not is_bias:
            value[...] = rng.uniform(-config.init_scale, config.init_scale, size=value.shape)
        elif config.init == "orthogonal" and "weight_hh" in name:
            value[...] = orthogonal(rng, value.shape, dtype=value.dtype)  # each gate's H x H block orthogonal
        if is_bias and config.bias_value is not None:
            value[...] = config.bias_value
    if config.forget_bias is not None and get_cell(config.cell).forget_gate is not None:
        set_forget_biases(params, config.cell, config.hidden_size, config.forget_bias, prefix="rnn.")


def _keras_init(params: dict, config: ModelConfig, rng: np.random.Generator) -> None:
    """`initialize` for init="keras" (see there)."""
    for name, value in params.items():
        if ".bias" in name:
            value[...] = 0.0 if config.bias_value is None else config.bias_value
        elif name == "embedding.weight":
            value[...] = rng.uniform(-0.05, 0.05, size=value.shape)  # Keras Embedding: uniform, (V, E) in both
        elif "weight_hh" in name:
            value[...] = orthogonal(rng, value.shape, per_gate=False, dtype=value.dtype)  # (G*H, H)
        elif value.ndim == 2:
            value[...] = glorot_uniform(rng, value.shape[1], value.shape[0]).T  # (out, in) from Keras's (in, out)
    if get_cell(config.cell).forget_gate is not None:  # unit_forget_bias: b_f = 1 (as a total, b_ih + b_hh)
        forget = 1.0 if config.forget_bias is None else config.forget_bias
        set_forget_biases(params, config.cell, config.hidden_size, forget, prefix="rnn.")
