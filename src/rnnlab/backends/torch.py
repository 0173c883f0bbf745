"""The same models on PyTorch: `TorchModel` has `NumpyModel`'s API, built from the same `ModelConfig`.

    model = TorchModel(config, seed=0, device="auto")   # cuda when present, else cpu
    logits, state = model.forward(ids, state)            # NumPy in, NumPy out (T, B, V)
    model.backward(d_logits)                             # gradients into the torch parameters

The network is torch.nn.Embedding | one-hot | dense input -> [Linear projection] ->
torch.nn.RNN/LSTM/GRU (cuDNN on CUDA; a registered cell torch.nn lacks, such as the peephole
LSTM, runs as backends/loop.py's step loop of the same equations) -> Linear head, with dropout where the NumPy model
has it. Parameter names are the NumPy model's (`embedding.weight`, `rnn.weight_ih_l0`,
`head.weight`, ...) and so are the layouts, so `state_dict()` moves between the engines
unchanged, and the initial weights are the NumPy model's for the same seed (it is built
and copied in: identical by construction).

Why NumPy at the edges: every task computes its loss in NumPy on the returned outputs
and hands `d_outputs` back, so one task code drives both engines and the equivalence
tests compare exactly the same arithmetic around the network. The price is one
device->host copy of the outputs per forward and a host->device copy of their gradient
per backward; for a large vocabulary on a GPU the faster path would compute the
cross-entropy on the device (torch.nn.functional.cross_entropy on the logits tensor) and
bring back one number.

Training plumbing the Trainer gets from here: `make_optimizer` (torch.optim.SGD / Adam /
RMSprop / Adagrad behind the NumPy optimiser's interface, state saved under the NumPy
optimiser's names, so checkpoints resume on either engine), `clip_grad_norm`
(torch.nn.utils.clip_grad_norm_), `rngs()` (the three dropout generators, saved as
torch generator states). Data-parallel training under torchrun: see
`rnnlab.backends.distributed`.

Dropout uses the model's own torch generators (one each for the input, between the
layers and before the head, as the NumPy model has), so masks are reproducible and resume
exactly, but they are not the NumPy engine's masks: the two engines agree exactly with
dropout 0, and in distribution otherwise. Weight dropout (DropConnect on W_hh) draws its
masks from the "rnn" generator and runs the torch.nn module on the masked weights through
torch.func.functional_call, so the module and its cuDNN path stay as they are.

Left out: the sigmoid RNN (torch.nn.RNN has no such nonlinearity), truncated BPTT inside a
window (`bptt_truncate`), bidirectional stacks (ModelConfig has none).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.backends import DEVICES, distributed
from rnnlab.backends.loop import recurrent_module
from rnnlab.engine.registry import get_cell
from rnnlab.errors import UsageError
from rnnlab.models import ModelConfig, NumpyModel, logits_loss

RNG_NAMES = ("rnn", "input_dropout", "output_dropout")  # as NumpyModel.rngs()


def resolve_device(device: str) -> torch.device:
    """auto | cpu | cuda | mps | cuda:N -> a torch.device that exists here (UsageError otherwise)."""
    kind = device.split(":")[0]
    if kind not in DEVICES:
        raise UsageError(f"unknown --device {device!r}; choose one of: {', '.join(DEVICES)}")
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "--device cuda: this PyTorch sees no CUDA GPU (a CPU-only build, or no driver); use --device cpu"
        )
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UsageError("--device mps: Apple's Metal backend is not available here; use --device cpu")
    return torch.device(device)


class Network(nn.Module):
    """The torch modules of one model in forward order: `forward(inputs, state) -> (outputs, state)`.

    With dropout between layers (num_layers > 1), the recurrent stack is a list of
    single-layer modules with our dropout between them (masks from our generator, locked if
    asked); otherwise one multi-layer module (one cuDNN call for the whole stack).
    """

    def __init__(self, config: ModelConfig, generators: dict[str, torch.Generator]) -> None:
        super().__init__()
        self.config = config
        self.generators = generators  # name -> torch.Generator (not modules: no parameters)
        if config.input == "embedding":
            self.embedding = nn.Embedding(config.input_size, config.embedding_size)
        if config.projection_size:
            in_features = config.embedding_size if config.input == "embedding" else config.input_size
            self.projection = nn.Linear(in_features, config.projection_size)
        if not config.hidden_bias:
            raise UsageError(
                "one recurrent bias per gate (--no-hidden-bias) is a NumPy-engine feature: torch's "
                "layers always have two; drop --backend torch"
            )
        kind = recurrent_module(config.cell)
        spec = get_cell(config.cell)
        extra = {"nonlinearity": config.nonlinearity} if len(spec.nonlinearities) > 1 else {}
        self.stacked = config.num_layers > 1 and config.dropout > 0
        if self.stacked:
            self.rnn = nn.ModuleList(
                kind(
                    config.recurrent_input_size if k == 0 else config.hidden_size,
                    config.hidden_size,
                    num_layers=1,
                    bias=config.bias,
                    **extra,
                )
                for k in range(config.num_layers)
            )
        else:
            self.rnn = kind(
                config.recurrent_input_size, config.hidden_size, num_layers=config.num_layers, bias=config.bias, **extra
            )
        if config.head_projection_size:
            self.head_projection = nn.Linear(config.hidden_size, config.head_projection_size, bias=False)
        self.head = nn.Linear(config.head_projection_size or config.hidden_size, config.output_size, bias=config.bias)
        if config.tied:  # one Parameter, two users: autograd adds both gradients
            self.head.weight = self.embedding.weight

    def named_model_parameters(self) -> dict[str, torch.Tensor]:
        """NumpyModel's names -> our parameters, in NumpyModel's order (a tied head weight appears once)."""
        named: dict[str, torch.Tensor] = {}
        if self.config.input == "embedding":
            named["embedding.weight"] = self.embedding.weight
        if self.config.projection_size:
            named.update({f"projection.{n}": p for n, p in self.projection.named_parameters()})
        if self.stacked:
            for k, layer in enumerate(self.rnn):
                named.update({f"rnn.{n[: -len('_l0')]}_l{k}": p for n, p in layer.named_parameters()})
        else:
            named.update({f"rnn.{n}": p for n, p in self.rnn.named_parameters()})
        if self.config.head_projection_size:
            named["head_projection.weight"] = self.head_projection.weight
        named.update(
            {f"head.{n}": p for n, p in self.head.named_parameters() if not (n == "weight" and self.config.tied)}
        )
        return named

    def forward(self, inputs: torch.Tensor, state=None):
        """inputs (T, B) ids or (T, B, F) features -> outputs (T, B, output_size), final state."""
        config = self.config
        if config.input == "onehot":
            x = F.one_hot(inputs, config.input_size).to(self.head.weight.dtype)  # (T, B, V)
        elif config.input == "embedding":
            x = self.embedding(inputs)  # (T, B, E)
            x = self._dropout(x, "input_dropout")
        else:
            x = inputs  # (T, B, F)
        if config.projection_size:
            x = self.projection(x)  # (T, B, P)
        y, state = self._recurrent(x, state)  # (T, B, H)
        y = self._dropout(y, "output_dropout")
        if config.head_projection_size:
            y = self.head_projection(y)  # (T, B, E)
        return self.head(y), state  # (T, B, output_size)

    def _dropout(self, x: torch.Tensor, where: str) -> torch.Tensor:
        """Inverted dropout as the NumPy engine's: x * mask / (1 - p), masks from generator `where`;
        one (1, B, D) mask for all time steps when locked."""
        p = self.config.dropout
        if not self.training or p == 0.0:
            return x
        shape = (1,) + tuple(x.shape[1:]) if self.config.locked_dropout and x.dim() == 3 else tuple(x.shape)
        draw = torch.rand(shape, generator=self.generators[where], device=x.device, dtype=torch.float32)  # (T|1, B, D)
        return x * ((draw >= p).to(x.dtype) / (1.0 - p))

    def _run(self, module: nn.Module, x: torch.Tensor, state):
        """One recurrent module; under weight dropout (training), on W_hh * mask / (1 - p), one mask
        per call drawn from the "rnn" generator (torch.func.functional_call: the module's own
        parameters stay as they are, and autograd takes the gradient through the mask)."""
        p = self.config.weight_dropout
        if not self.training or p == 0.0:
            return module(x, state)
        weights: dict[str, torch.Tensor] = dict(module.named_parameters())  # W_hh entries become masked tensors
        for name, weight in list(weights.items()):
            if name.startswith("weight_hh"):
                draw = torch.rand(
                    tuple(weight.shape), generator=self.generators["rnn"], device=weight.device, dtype=torch.float32
                )
                weights[name] = weight * ((draw >= p).to(weight.dtype) / (1.0 - p))
        return torch.func.functional_call(module, weights, (x, state))

    def _recurrent(self, x: torch.Tensor, state):
        if not self.stacked:
            return self._run(self.rnn, x, state)
        lstm = get_cell(self.config.cell).has_cell_state
        finals = []
        for k, layer in enumerate(self.rnn):
            if k > 0:
                x = self._dropout(x, "rnn")
            layer_state = None
            if state is not None:
                layer_state = (state[0][k : k + 1], state[1][k : k + 1]) if lstm else state[k : k + 1]  # (1, B, H)
            x, final = self._run(layer, x, layer_state)  # (T, B, H)
            finals.append(final)
        if lstm:
            return x, (torch.cat([f[0] for f in finals]), torch.cat([f[1] for f in finals]))  # (L, B, H) each
        return x, torch.cat(finals)  # (L, B, H)


class TorchRng:
    """A torch.Generator behind the NumPy generator's checkpoint interface: `rng.bit_generator.state`.

    The state is JSON: {"bit_generator": "torch", "state": base64 of the generator's bytes}.
    """

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    @property
    def bit_generator(self) -> TorchRng:
        return self

    @property
    def state(self) -> dict:
        raw = self.generator.get_state().numpy().tobytes()
        return {"bit_generator": "torch", "state": base64.b64encode(raw).decode("ascii")}

    @state.setter
    def state(self, value: dict) -> None:
        if not isinstance(value, dict) or value.get("bit_generator") != "torch":
            raise ValueError("this RNG state is not a torch generator's (saved by the other engine?)")
        raw = np.frombuffer(base64.b64decode(value["state"]), dtype=np.uint8).copy()
        self.generator.set_state(torch.from_numpy(raw))


class TorchModel:
    """NumpyModel's API on PyTorch: forward/backward with NumPy arrays, params/grads by NumPy names.

    `params` and `grads` are NumPy views of the torch tensors on the CPU (writes go
    through, as with NumpyModel) and copies on a GPU; training on any device goes through
    `make_optimizer` and `clip_grad_norm` below, which act on the tensors themselves.
    """

    backend = "torch"

    def __init__(self, config: ModelConfig, seed: Optional[int] = None, device: str = "auto") -> None:
        config.validate()
        spec = get_cell(config.cell)
        if len(spec.nonlinearities) > 1 and config.nonlinearity not in spec.torch_nonlinearities:
            raise UsageError(
                f"--nonlinearity {config.nonlinearity} exists on the NumPy engine only (torch has "
                f"{', '.join(spec.torch_nonlinearities)}); use --backend numpy or another nonlinearity"
            )
        if config.adaptive_cutoffs:
            raise UsageError(
                "an adaptive softmax head (--adaptive-softmax) exists on the NumPy engine only: train it "
                "with --backend numpy (it cannot run on torch or be exported to ONNX)"
            )
        self.config = config
        self.device = resolve_device(device)
        self.dtype = torch.float64 if np.dtype(config.dtype) == np.float64 else torch.float32
        self.context = distributed.context_from_environment()
        if self.context.is_distributed:
            self.device = distributed.join(self.context, self.device)
        if self.device.type == "mps" and self.dtype == torch.float64:
            raise UsageError("mps has no float64; use --dtype float32 or --device cpu")
        self.rank, self.world_size = self.context.rank, self.context.world_size
        self.is_writer = self.rank == 0  # data-parallel ranks other than 0 write nothing
        self.generators = {}
        for k, name in enumerate(RNG_NAMES):
            generator = torch.Generator(device=self.device)
            if seed is None:
                generator.seed()
            else:  # independent streams per part and per rank
                generator.manual_seed(int(np.random.SeedSequence([seed, k, self.rank]).generate_state(1)[0]))
            self.generators[name] = generator
        self.network = Network(config, self.generators).to(device=self.device, dtype=self.dtype)
        self._named = self.network.named_model_parameters()
        self.load_state_dict(NumpyModel(config, seed=seed).state_dict())  # the NumPy model's initial weights
        self.zero_grad()
        self.runner = distributed.wrap(self.network, self.device) if self.context.is_distributed else self.network
        self.amp: Optional[str] = None
        self.training = True
        self._graph: Optional[tuple] = None  # (inputs, outputs, state) of the last forward, for backward

    # --------------------------------------------------------------------- parameters
    def named_parameters(self) -> dict[str, torch.Tensor]:
        """NumPy names -> torch Parameters (the tensors themselves)."""
        return dict(self._named)

    @property
    def params(self) -> Mapping[str, np.ndarray]:
        return _NumpyView(self._named, lambda p: p.detach())

    @property
    def grads(self) -> Mapping[str, np.ndarray]:
        return _NumpyView(self._named, lambda p: p.grad if p.grad is not None else torch.zeros_like(p))

    def zero_grad(self) -> None:
        for p in self._named.values():  # in place: the gradient tensors (and NumPy views of them) stay
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            else:
                p.grad.zero_()

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: p.detach().cpu().numpy().copy() for name, p in self._named.items()}

    def load_state_dict(self, state: dict) -> None:
        missing = sorted(set(self._named) - set(state))
        unexpected = sorted(set(state) - set(self._named))
        if missing or unexpected:
            raise KeyError(f"weights do not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        with torch.no_grad():
            for name, value in state.items():
                value = np.asarray(value)
                target = self._named[name]
                if value.shape != tuple(target.shape):
                    raise ValueError(f"{name}: the model has shape {tuple(target.shape)}, the weights {value.shape}")
                target.copy_(torch.from_numpy(np.array(value)))  # a copy: checkpoint arrays may be read-only

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self._named.values())

    def train(self, mode: bool = True) -> TorchModel:
        self.training = mode
        self.network.train(mode)
        return self

    def eval(self) -> TorchModel:
        return self.train(False)

    def rngs(self) -> dict:
        """The dropout generators by NumpyModel's names, with NumPy's checkpoint interface (`TorchRng`)."""
        return {name: TorchRng(generator) for name, generator in self.generators.items()}

    def enable_amp(self, kind: Optional[str]) -> None:
        """`--amp bf16`: training forward passes under torch.autocast(bfloat16) on CUDA."""
        if kind in (None, "none", "off"):
            self.amp = None
            return
        if kind != "bf16":
            raise UsageError(f"--amp takes bf16, got {kind!r}")
        if self.device.type != "cuda":
            raise UsageError(f"--amp bf16 needs a CUDA device (this run is on {self.device.type})")
        self.amp = kind

    # ------------------------------------------------------------------ forward/backward
    def init_state(self, batch_size: int):
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        zeros = np.zeros(shape, dtype=self.config.dtype)
        return (zeros, zeros.copy()) if get_cell(self.config.cell).has_cell_state else zeros

    def forward(self, inputs: np.ndarray, state=None):
        """inputs (T, B) ids or (T, B, F) features -> outputs (T, B, output_size), final state (NumPy)."""
        x = self._inputs(inputs)
        h0 = None if state is None else _map_state(state, self._state_tensor)
        runner = self.runner if self.training else self.network  # evaluation needs no gradient averaging
        autocast = (
            torch.autocast(device_type="cuda", dtype=torch.bfloat16)
            if self.amp and self.training
            else contextlib.nullcontext()
        )
        with autocast:
            outputs, final = runner(x, h0)
        outputs = outputs.to(self.dtype)  # bf16 under autocast
        final = _map_state(final, lambda s: s.to(self.dtype))
        self._graph = (x, outputs, final)
        return _numpy_copy(outputs), _map_state(final, _numpy_copy)

    __call__ = forward

    def loss(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        state=None,
        need_grad: bool = True,
        bptt_truncate: Optional[int] = None,
    ):
        """NumpyModel.loss: mean next-token cross-entropy -> (loss, final state), gradients when asked."""
        return logits_loss(self, inputs, targets, state, need_grad, bptt_truncate)

    def backward(self, d_outputs: np.ndarray, d_state=None, bptt_truncate: Optional[int] = None):
        """Adds every parameter gradient into the torch `.grad`s; returns d(inputs) for dense inputs, else None."""
        if bptt_truncate is not None:
            raise UsageError(
                "--bptt-truncate is a NumPy-engine feature; the torch backend backpropagates "
                "through whole windows (shorten --seq-len instead)"
            )
        if self._graph is None:
            raise RuntimeError("backward called before forward (or twice for one forward)")
        x, outputs, final = self._graph
        self._graph = None
        tensors, grads = [outputs], [self._to_device(d_outputs)]
        if d_state is not None:
            pairs = zip(final, d_state) if isinstance(final, tuple) else [(final, d_state)]
            for tensor, grad in pairs:
                if grad is not None:
                    tensors.append(tensor)
                    grads.append(self._to_device(grad))
        torch.autograd.backward(tensors, grads)
        return _numpy_copy(x.grad) if self.config.input == "dense" else None

    def _to_device(self, array) -> torch.Tensor:
        array = np.asarray(array)
        if not array.flags.writeable:  # torch wants writable memory to share
            array = array.copy()
        return torch.as_tensor(array).to(device=self.device, dtype=self.dtype)

    def _state_tensor(self, array) -> torch.Tensor:
        tensor = self._to_device(array)
        expected = (self.config.num_layers, tensor.shape[1] if tensor.dim() == 3 else -1, self.config.hidden_size)
        if tensor.dim() != 3 or tuple(tensor.shape) != expected:
            raise ValueError(f"state must have shape (layers, B, hidden) = {expected}, got {tuple(tensor.shape)}")
        return tensor.contiguous()

    def _inputs(self, inputs) -> torch.Tensor:
        config = self.config
        inputs = np.asarray(inputs)
        if config.input == "dense":
            x = self._to_device(inputs)  # (T, B, F)
            x.requires_grad_(True)  # so backward can return d(inputs), as NumpyModel does
            return x
        if not np.issubdtype(inputs.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {inputs.dtype}")
        if inputs.size and (inputs.min() < 0 or inputs.max() >= config.input_size):
            raise ValueError(f"index out of range [0, {config.input_size}): min {inputs.min()}, max {inputs.max()}")
        return torch.from_numpy(inputs.astype(np.int64, copy=False)).to(self.device)  # (T, B)

    # ------------------------------------------------------------------------ training
    def agreed(self, values: tuple) -> tuple:
        """Under data parallelism the largest of `values` over the ranks (in one process, `values`):
        how every rank reads the same clock and stop request from the trainer."""
        return distributed.largest(values, self.device) if self.context.is_distributed else tuple(values)

    def clip_grad_norm(self, max_norm: float) -> float:
        """torch.nn.utils.clip_grad_norm_ over all parameters -> the norm before clipping."""
        return float(torch.nn.utils.clip_grad_norm_(list(self._named.values()), max_norm))

    def make_optimizer(self, name: str, **settings):
        """torch.optim.<name> over the parameters, behind the NumPy optimiser's interface."""
        from rnnlab.backends.optim import TorchOptimizer

        return TorchOptimizer(name, self._named, **settings)


class _NumpyView(Mapping):
    """name -> NumPy array of a tensor, made on access (a view on the CPU, a copy from a GPU).

    Lazy, so that the Trainer's `optimizer.step(model.grads)` costs no device->host copies.
    """

    def __init__(self, named: dict[str, torch.Tensor], pick) -> None:
        self._named, self._pick = named, pick

    def __getitem__(self, name: str) -> np.ndarray:
        return _numpy(self._pick(self._named[name]))

    def __iter__(self):
        return iter(self._named)

    def __len__(self) -> int:
        return len(self._named)


def _map_state(state, function):
    if state is None:
        return None
    return tuple(function(s) for s in state) if isinstance(state, (tuple, list)) else function(state)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy view on the CPU, a copy from other devices."""
    return tensor.detach().cpu().numpy()


def _numpy_copy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", copy=True).numpy()
