"""The argument parser of `rnnlab ...`: one flag per field of a task's options, the
subcommands and their flags. cli.py runs what it parses.
"""

from __future__ import annotations

import argparse
import sys
import typing
from dataclasses import MISSING, fields

from rnnlab import __version__
from rnnlab.engine.registry import cell_names
from rnnlab.generate import add_generation_flags
from rnnlab.inspect import add_inspect_parser
from rnnlab.runs import add_runs_parser
from rnnlab.tasks.options import flag


def _field_types(options_class) -> dict:
    """Field name -> the type a flag parses (Optional[int] -> int)."""
    out = {}
    for name, hint in typing.get_type_hints(options_class).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        out[name] = args[0] if args else hint
    return out


def add_options(parser: argparse.ArgumentParser, options_class) -> None:
    """One flag per field of a task's options dataclass; defaults stay in the dataclass."""
    group = parser.add_argument_group(f"{options_class.__name__} (defaults in brackets)")
    kinds = _field_types(options_class)
    for field in fields(options_class):
        meta = dict(field.metadata)
        names = [flag(field.name), *meta.get("aliases", ())]
        default = field.default if field.default is not MISSING else None
        kind = kinds[field.name]
        help_text = f"{meta.get('help', '')} [{default}]"
        if kind is bool:
            group.add_argument(
                *names,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            choices = meta.get("choices")
            group.add_argument(
                *names,
                dest=field.name,
                type=kind,
                choices=choices,
                default=argparse.SUPPRESS,
                help=help_text,
                metavar=None if choices else field.name.upper(),
            )


def _presets_epilog(presets: dict) -> str:
    """The presets of a task, one line each: its name and the settings it changes."""
    if not presets:
        return ""
    lines = ["presets (--preset NAME; flags given with it override it):"]
    for name, values in presets.items():
        lines.append(f"  {name}: " + " ".join(f"{flag(k)} {v}" for k, v in values.items()))
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage it would print is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"rnnlab: error: {message} (see {self.prog} --help)\n")


def _summary(task_class) -> str:
    """The first line of a task's docstring: its one-line description in --help."""
    return ((task_class.__doc__ or "").strip().splitlines() or [""])[0]


def build_parser() -> argparse.ArgumentParser:
    from rnnlab.tasks import OLD_MODES, TASKS
    from rnnlab.tasks.options import NONLINEARITIES

    parser = _Parser(prog="rnnlab", description="Recurrent neural networks from scratch (NumPy) and on PyTorch.")
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a task: " + ", ".join(TASKS),
        description="Train a task. Tasks: " + ", ".join(f"{name} ({_summary(cls)})" for name, cls in TASKS.items()),
    )
    train.add_argument("--resume", metavar="RUN", help="continue the stopped run in this folder")
    train.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    train.add_argument("--minutes", type=float, help=argparse.SUPPRESS)  # with --resume: a new time budget
    _add_run_flags(train)
    tasks = train.add_subparsers(dest="task", metavar="TASK")
    for name, task_class in TASKS.items():
        presets = getattr(task_class, "presets", {})
        sub = tasks.add_parser(
            name,
            help=_summary(task_class),
            description=(sys.modules[task_class.__module__].__doc__ or ""),
            epilog=_presets_epilog(presets),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "--preset",
            choices=sorted(presets) or None,
            help="a named configuration (flags override it); presets are listed below",
        )
        if (name, "stream") in OLD_MODES:  # the old spelling: `wordlm --mode sentence` is wordlm-sentence
            sub.add_argument(
                "--mode",
                choices=[mode for task, mode in OLD_MODES if task == name],
                default=argparse.SUPPRESS,
                help=f"old spelling: --mode sentence runs {OLD_MODES[(name, 'sentence')]}",
            )
        sub.add_argument(
            "--resume",
            metavar="RUN",
            default=argparse.SUPPRESS,
            help=f"continue this stopped {name} run instead (only --epochs and --minutes may change)",
        )
        _add_run_flags(sub)
        add_options(sub, task_class.Options)

    generate = commands.add_parser("generate", help="sample text from a trained language model")
    generate.add_argument("run", metavar="RUN")
    add_generation_flags(generate)
    generate.add_argument("--checkpoint", choices=("best", "last"), default="best")
    _add_engine_flags(generate)
    add_runs_parser(commands)
    add_inspect_parser(commands)

    evaluate = commands.add_parser("evaluate", help="metrics of a trained run, or perplexity on a text file")
    evaluate.add_argument("run", metavar="RUN")
    evaluate.add_argument("--text", help="a UTF-8 file to compute perplexity on")
    evaluate.add_argument("--unknown", choices=("error", "skip"), default="error")
    evaluate.add_argument("--checkpoint", choices=("best", "last"), default="best")
    evaluate.add_argument("--json", action="store_true", help="last line of stdout: the metrics as JSON")
    evaluate.add_argument(
        "--dynamic-lr",
        type=float,
        metavar="LR",
        help="also dynamic evaluation: an SGD step of this size on each window after scoring it",
    )
    evaluate.add_argument(
        "--dynamic-decay",
        type=float,
        default=0.0,
        metavar="D",
        help="dynamic evaluation: pull the weights back to the trained ones by this fraction per window [0]",
    )
    evaluate.add_argument(
        "--dynamic-window",
        type=int,
        metavar="T",
        help="dynamic evaluation: tokens per window (one update each) [the run's --seq-len]",
    )
    _add_engine_flags(evaluate)

    export = commands.add_parser("export", help="export a trained model to ONNX (needs torch)")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--onnx", required=True, metavar="PATH", help="the .onnx file to write")
    export.add_argument("--checkpoint", choices=("best", "last"), default="best")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset version [17]")

    gradcheck = commands.add_parser("gradcheck", help="compare backprop with central finite differences")
    gradcheck.add_argument("--cell", choices=cell_names(), default="lstm")
    gradcheck.add_argument("--num-layers", "--layers", dest="layers", type=int, default=1)
    gradcheck.add_argument("--bidirectional", action="store_true")
    gradcheck.add_argument("--nonlinearity", choices=NONLINEARITIES, default="tanh")
    gradcheck.add_argument(
        "--bptt-truncate", type=int, default=None, help="check truncated BPTT against its definition instead"
    )
    gradcheck.add_argument("--threshold", type=float, default=1e-6, help="largest acceptable relative error [1e-6]")
    gradcheck.add_argument("--seed", type=int, default=0)

    gradients = commands.add_parser(
        "gradients",
        help="how far back the error reaches: |dL/dh_t| per step back",
        description="For a unit error at the last step, the median norm of "
        "dLoss/dh_t for every earlier t, at initialisation (and for trained runs); the "
        "effect of W_hh's spectral radius; an exploding case with and without clipping.",
    )
    gradients.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated cells [rnn,lstm,gru]")
    gradients.add_argument("--steps", type=int, default=100, help="sequence length T [100]")
    gradients.add_argument("--hidden-size", "--hidden", dest="hidden", type=int, default=64, help="hidden units [64]")
    gradients.add_argument("--seeds", type=int, default=3, help="initialisations to take the median over [3]")
    gradients.add_argument("--batch", type=int, default=16, help="sequences per seed [16]")
    gradients.add_argument(
        "--trained", metavar="RUN", action="append", default=[], help="also measure this trained run (repeatable)"
    )
    gradients.add_argument(
        "--radii", default="0.9,1.0,1.1", help="spectral radii of W_hh for the tanh RNN ('' to skip) [0.9,1.0,1.1]"
    )
    gradients.add_argument("--forget-bias", type=float, default=None, help="also an LSTM with this forget bias")
    gradients.add_argument(
        "--clip-updates",
        type=int,
        default=150,
        help="updates of the exploding-gradient demo, with and without clipping (0: skip) [150]",
    )
    gradients.add_argument(
        "--out", default="runs/gradients", help="folder for gradients.json and PNGs [runs/gradients]"
    )
    gradients.add_argument("--json", action="store_true", help="last line of stdout: the report as JSON")
    return parser


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default=argparse.SUPPRESS, help="run folder [runs/TASK-TIME]")
    parser.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bar or per-evaluation lines"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="last line of stdout: the final metrics as one JSON object",
    )
    parser.add_argument(
        "--tensorboard", metavar="DIR", default=argparse.SUPPRESS, help="also log scalars for TensorBoard here"
    )
    parser.add_argument(
        "--backend", choices=("numpy", "torch"), default=argparse.SUPPRESS, help="engine to train on [numpy]"
    )
    parser.add_argument("--device", default=argparse.SUPPRESS, help="torch device: auto|cpu|cuda|mps [auto]")
    parser.add_argument(
        "--amp", choices=("bf16",), default=argparse.SUPPRESS, help="torch on CUDA: train under bfloat16 autocast [off]"
    )


def _add_engine_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="engine to run on [numpy]")
    parser.add_argument("--device", default="auto", help="torch device: auto|cpu|cuda|mps [auto]")


RUN_FLAGS = ("run_dir", "quiet", "json", "tensorboard", "backend", "device", "amp")
