"""The options every task takes, declared once: the model's, then the training's.

A task's options class adds only its own fields and says which shared defaults it
changes, as data; help texts, choices and flag aliases stay those declared here::

    @dataclass
    class CharLMOptions(Options):
        defaults = dict(hidden_size=512, seq_len=25, lr=3e-3)   # overrides of the shared defaults
        corpus: str = option("tinyshakespeare", "shipped corpus")

Field names are PyTorch's where it has one (`hidden_size`, `num_layers`); the old
spellings stay flag aliases (`--hidden`, `--layers`) and are read from saved runs
through OLD_NAMES.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Demo(Options):
    ...     defaults = dict(hidden_size=512)
    >>> Demo().hidden_size, Demo(hidden_size=64).hidden_size, Demo().num_layers
    (512, 64, 1)
    >>> upgrade_names({"hidden": 256, "layers": 2, "lr": 0.1})
    {'hidden_size': 256, 'num_layers': 2, 'lr': 0.1}
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Optional

import numpy as np

from rnnlab.engine.registry import cell_names, get_cell
from rnnlab.errors import UsageError
from rnnlab.models import INITS, ModelConfig

# Old option names (flags, config.json and checkpoint "options" of earlier runs) -> today's.
OLD_NAMES: dict[str, str] = {"hidden": "hidden_size", "layers": "num_layers", "projection": "projection_size"}


def upgrade_names(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` with old option names replaced by today's (a saved run's options, or keyword arguments)."""
    out: dict[str, Any] = {}
    for name, value in settings.items():
        new = OLD_NAMES.get(name, name)
        if new in settings and new != name:  # both spellings: today's wins
            continue
        out[new] = value
    return out


def option(default: Any, help: str, **extra: Any):
    """A dataclass field with a help text (the CLI turns each field into a flag)."""
    return field(default=default, metadata={"help": help, **extra})


OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "plateau", "cosine", "cosine-time")
SCHEDULE_HELP = (
    "learning-rate schedule: none, step (x --lr-factor every --step-size epochs), plateau "
    "(x --lr-factor when validation stalls), cosine (to 0 over --epochs), cosine-time (to 0 over "
    "the --minutes budget, all of it unless --epochs is given and ends first; it follows the clock, "
    "so those runs are not bit-reproducible)"
)
NONLINEARITIES = tuple(dict.fromkeys(n for name in cell_names() for n in get_cell(name).nonlinearities))


@dataclass
class ModelOptions:
    """The model's settings every task takes (mapped onto ModelConfig by `model_config`)."""

    defaults: ClassVar[dict[str, Any]] = {}  # a task's overrides of the shared defaults, by field name
    field_help: ClassVar[dict[str, str]] = {}  # a task's own help for a shared field whose meaning it narrows
    field_choices: ClassVar[dict[str, tuple]] = {}  # a task's wider choices for a shared field
    field_aliases: ClassVar[dict[str, tuple]] = {}  # a task's extra flag spellings for a shared field
    retired: ClassVar[frozenset] = frozenset()  # names saved runs may hold that mean nothing now (dropped on load)

    cell: str = option("lstm", "recurrent cell", choices=cell_names())
    nonlinearity: str = option("tanh", "RNN cell nonlinearity", choices=NONLINEARITIES)
    num_layers: int = option(1, "number of recurrent layers", aliases=("--layers",))
    hidden_size: int = option(128, "hidden units per layer", aliases=("--hidden",))
    dropout: float = option(0.0, "dropout on inputs, between layers and before the head")
    weight_dropout: float = option(0.0, "dropout on the recurrent weights W_hh (DropConnect), one mask per batch")
    init: str = option("pytorch", "weight initialisation", choices=INITS)
    init_scale: float = option(0.1, "std (normal) or bound (uniform) of the initial weights")
    dtype: str = option("float32", "floating-point type", choices=("float32", "float64"))
    hidden_bias: bool = option(
        True,
        "a second recurrent bias b_hh, as PyTorch has (--no-hidden-bias: one bias per "
        "gate, as the d2l and nicodjimenez programs write it; NumPy engine only)",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Turn `defaults` (and `field_help`, `field_choices`) into redeclared fields before @dataclass runs."""
        super().__init_subclass__(**kwargs)
        kinds = ("defaults", "field_help", "field_choices", "field_aliases")
        own = {kind: cls.__dict__.get(kind, {}) for kind in kinds}
        changed = set().union(*own.values())
        if not changed:
            return
        inherited = {f.name: f for f in fields(cls)}  # the parent's dataclass fields (cls is not one yet)
        unknown = sorted(changed - set(inherited))
        if unknown:
            raise TypeError(f"{cls.__name__} overrides unknown options: {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        annotations = cls.__dict__.get("__annotations__")  # noqa: RUF063 (this class's own, on Python 3.9 too)
        if annotations is None:
            annotations = {}
            cls.__annotations__ = annotations
        for name in changed:
            parent = inherited[name]
            meta = dict(parent.metadata)
            if name in own["field_help"]:
                meta["help"] = own["field_help"][name]
            if name in own["field_choices"]:
                meta["choices"] = own["field_choices"][name]
            if name in own["field_aliases"]:
                meta["aliases"] = (*meta.get("aliases", ()), *own["field_aliases"][name])
            default = own["defaults"].get(name, parent.default)
            annotations.setdefault(name, hints[name])
            setattr(cls, name, field(default=default, metadata=meta))

    # -- the model ---------------------------------------------------------------------
    def model_config(self, **task_given: Any) -> ModelConfig:
        """The ModelConfig of these options: every ModelConfig field these options have, then `task_given`
        (what the task knows: input kind and sizes, or a setting it derives)."""
        known = {f.name for f in fields(ModelConfig)}
        values = {name: getattr(self, name) for name in known if hasattr(self, name)}
        spec = get_cell(self.cell)
        if spec.forget_gate is None:  # a forget-gate bias means nothing to a cell without one
            values.pop("forget_bias", None)
        values.update(task_given)
        return ModelConfig(**values)


@dataclass
class TrainingOptions:
    """How every task trains: epochs, batches, optimiser, schedule, clipping, budget, seed."""

    epochs: int = option(
        10, "training epochs (0: as many as --minutes allows; cosine-time's default when --epochs is not given)"
    )
    batch_size: int = option(32, "sequences per batch")
    seq_len: int = option(35, "time steps per training window", aliases=("--bptt",))
    bptt_truncate: Optional[int] = option(None, "let gradients flow back at most K steps from each output")
    lr: float = option(1e-3, "learning rate")
    optimizer: str = option("adam", "optimiser", choices=OPTIMIZERS)
    momentum: float = option(0.0, "SGD/RMSprop momentum")
    rmsprop_alpha: float = option(
        0.99, "RMSprop's smoothing constant: v = alpha v + (1 - alpha) g^2 (PyTorch's alpha 0.99; Keras's rho 0.9)"
    )
    rmsprop_eps: float = option(
        1e-8, "RMSprop's p -= lr g / (sqrt(v) + eps), eps outside the root in PyTorch and Keras 2 (1e-8; Keras 1e-7)"
    )
    weight_decay: float = option(0.0, "L2 weight decay")
    clip: float = option(5.0, "clip gradients to this global L2 norm (0: off)")
    clip_eps: float = option(
        1e-6,
        "clipping scales by clip / (norm + this): PyTorch's clip_grad_norm_ adds 1e-6; "
        "0 is d2l's clip / norm (NumPy engine only)",
    )
    schedule: str = option("none", SCHEDULE_HELP, choices=SCHEDULES)
    lr_factor: float = option(0.25, "plateau: multiply lr by this when validation stalls; step: gamma")
    step_size: int = option(10, "step schedule: epochs between decays")
    eval_every: int = option(1, "evaluate (and checkpoint) every N epochs")
    minutes: Optional[float] = option(
        None, "time budget: after this many minutes of training, evaluate, checkpoint and stop (--resume continues)"
    )
    seed: int = option(0, "random seed (weights, batches, dropout)")


@dataclass
class Options(TrainingOptions, ModelOptions):
    """Settings every task takes (flags common to all `rnnlab train` tasks): the model's, then the training's."""

    def validate(self) -> None:
        """UsageError for settings that cannot work, naming the flag."""
        for name in ("num_layers", "hidden_size", "batch_size", "seq_len", "eval_every", "step_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UsageError(f"{flag(name)} must be a positive integer, got {value!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, np.integer)) or self.epochs < 0:
            raise UsageError(f"--epochs must be a positive integer (0: until --minutes is spent), got {self.epochs!r}")
        if self.schedule == "cosine-time" and self.minutes is None:
            raise UsageError("--schedule cosine-time anneals over a time budget: give one with --minutes")
        if self.epochs == 0 and self.minutes is None:
            raise UsageError("--epochs 0 trains until the time budget is spent: give one with --minutes")
        if self.epochs == 0 and self.schedule == "cosine":
            raise UsageError("--schedule cosine anneals over --epochs: give --epochs N, or use --schedule cosine-time")
        for name, value in (
            ("batch_size", self.batch_size),
            ("hidden_size", self.hidden_size),
            ("seq_len", self.seq_len),
        ):
            if value > 10**6:
                raise UsageError(f"{flag(name)} of {value} is beyond what fits in memory; use at most 1000000")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise UsageError(f"--seed must be an integer >= 0, got {self.seed!r}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise UsageError(f"--lr must be a positive number, got {self.lr!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.weight_dropout < 1.0:
            raise UsageError(f"--weight-dropout must be in [0, 1), got {self.weight_dropout!r}")
        if self.clip < 0 or not np.isfinite(self.clip):
            raise UsageError(f"--clip must be >= 0 (0 turns clipping off), got {self.clip!r}")
        if self.clip_eps < 0 or not np.isfinite(self.clip_eps):
            raise UsageError(f"--clip-eps must be >= 0, got {self.clip_eps!r}")
        if self.bptt_truncate is not None and self.bptt_truncate < 0:
            raise UsageError(f"--bptt-truncate must be >= 0, got {self.bptt_truncate!r}")
        if not 0.0 < self.lr_factor <= 1.0:
            raise UsageError(f"--lr-factor must be in (0, 1], got {self.lr_factor!r}")
        if self.momentum < 0 or not np.isfinite(self.momentum):
            raise UsageError(f"--momentum must be >= 0, got {self.momentum!r}")
        if not 0.0 <= self.rmsprop_alpha < 1.0:
            raise UsageError(f"--rmsprop-alpha must be in [0, 1), got {self.rmsprop_alpha!r}")
        if not (self.rmsprop_eps > 0 and np.isfinite(self.rmsprop_eps)):
            raise UsageError(f"--rmsprop-eps must be a positive number, got {self.rmsprop_eps!r}")
        if self.weight_decay < 0 or not np.isfinite(self.weight_decay):
            raise UsageError(f"--weight-decay must be >= 0, got {self.weight_decay!r}")
        if not (self.init_scale > 0 and np.isfinite(self.init_scale)):
            raise UsageError(f"--init-scale must be a positive number, got {self.init_scale!r}")
        if self.minutes is not None and not (self.minutes > 0 and np.isfinite(self.minutes)):
            raise UsageError(f"--minutes must be a positive number, got {self.minutes!r}")
        try:
            spec = get_cell(self.cell)
        except ValueError as error:
            raise UsageError(f"--cell: {error}") from None
        if self.nonlinearity not in spec.nonlinearities:
            raise UsageError(
                f"--nonlinearity {self.nonlinearity} does not apply to --cell {self.cell} "
                f"(it takes: {', '.join(spec.nonlinearities)})"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Options:
        """Options from a dict, old names accepted (UsageError naming unknown settings)."""
        data = {k: v for k, v in upgrade_names(data).items() if k not in cls.retired}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown settings for this task: {', '.join(unknown)}")
        return cls(**data)


def flag(name: str) -> str:
    """The flag of an option field: `hidden_size` -> `--hidden-size`."""
    return "--" + name.replace("_", "-")


def field_defaults(options_class) -> dict[str, Any]:
    """Each field's default (None for a field without one)."""
    return {f.name: (f.default if f.default is not MISSING else None) for f in fields(options_class)}
