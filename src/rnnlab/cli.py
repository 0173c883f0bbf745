"""`rnnlab ...`: argument parsing only; the work is done by rnnlab.api and friends.

    rnnlab train TASK [--preset NAME] [flags]     train (flags: `rnnlab train TASK --help`)
    rnnlab train [TASK] --resume RUN [--epochs N]  continue a stopped run exactly
    rnnlab generate RUN --prefix TEXT ...        sample from a trained language model
    rnnlab evaluate RUN [--text PATH]            validation metrics, or perplexity on any text
                        [--dynamic-lr LR]        ... also under dynamic evaluation (adapting as it reads)
    rnnlab gradcheck --cell lstm ...             finite differences against backprop
    rnnlab gradients --cells rnn,lstm,gru        |dL/dh_t| per step back; weight scale; clipping
    rnnlab export RUN --onnx PATH                a trained model as an ONNX file (needs torch)

Bad input ends with one line on stderr and exit code 2; Ctrl-C saves and exits 130.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import fields
from typing import Optional

from rnnlab.cli_parser import RUN_FLAGS, build_parser
from rnnlab.errors import UsageError
from rnnlab.inspect import run_inspect
from rnnlab.tasks.options import flag


def _check_numbers(args: argparse.Namespace) -> None:
    """UsageError, naming the flag, for numbers of generate/export/gradcheck/gradients that cannot work
    (train's options check themselves; generate's sampling flags are checked by api.check_sampling)."""
    if args.command == "generate":
        from rnnlab.api import check_sampling

        check_sampling(args.length, args.temperature, args.top_k)
    positive = {"gradcheck": ("layers",), "gradients": ("steps", "hidden", "seeds", "batch"), "export": ("opset",)}.get(
        args.command, ()
    )
    for name in positive:
        value = getattr(args, name)
        if value < 1:
            raise UsageError(f"{flag(name)} must be a positive integer, got {value}")
        if value > 10**5:
            raise UsageError(f"{flag(name)} of {value} is beyond what this command is for; use at most 100000")
    if args.command == "gradcheck":
        if args.bptt_truncate is not None and args.bptt_truncate < 0:
            raise UsageError(f"--bptt-truncate must be >= 0, got {args.bptt_truncate}")
        if not args.threshold > 0:
            raise UsageError(f"--threshold must be a positive number, got {args.threshold}")
        from rnnlab.engine.registry import get_cell

        if args.nonlinearity not in get_cell(args.cell).nonlinearities:
            raise UsageError(
                f"--nonlinearity {args.nonlinearity} does not apply to --cell {args.cell} "
                f"(it takes: {', '.join(get_cell(args.cell).nonlinearities)})"
            )
    if args.command == "gradients":
        if args.clip_updates < 0:
            raise UsageError(f"--clip-updates must be >= 0 (0: skip), got {args.clip_updates}")
        from rnnlab.engine.registry import cell_names

        cells = [c.strip() for c in args.cells.split(",") if c.strip()]
        unknown = [c for c in cells if c not in cell_names()]
        if unknown or not cells:
            raise UsageError(f"--cells takes comma-separated cells among {', '.join(cell_names())}, got {args.cells!r}")


def _train(args: argparse.Namespace) -> int:
    from rnnlab import api
    from rnnlab.train import LossNotFinite, TrainingStopped

    given = vars(args)
    run = {name: given.get(name) for name in RUN_FLAGS}
    try:
        if args.resume:
            _check_resume_flags(args)
            final = api.resume(
                args.resume,
                epochs=args.epochs,
                minutes=args.minutes,
                quiet=bool(run["quiet"]),
                tensorboard=run["tensorboard"],
                backend=run["backend"],
                device=run["device"] or "auto",
                amp=run["amp"],
            )
        else:
            if not args.task:
                raise UsageError("name a task: rnnlab train TASK (see rnnlab train --help)")
            settings = {
                k: v for k, v in given.items() if k not in RUN_FLAGS + ("command", "task", "resume", "preset", "epochs")
            }
            if args.epochs is not None:
                settings["epochs"] = args.epochs
            final = api.train(
                args.task,
                preset=getattr(args, "preset", None),
                run_dir=run["run_dir"],
                quiet=bool(run["quiet"]),
                tensorboard=run["tensorboard"],
                backend=run["backend"] or "numpy",
                device=run["device"] or "auto",
                amp=run["amp"],
                **settings,
            )
    except TrainingStopped as stop:
        if stop.is_writer:  # under torchrun, rank 0 speaks for all (every rank stopped at the same step)
            resume = f"rnnlab train --resume {shlex.quote(str(stop.run_dir))}"
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                resume = f"the same torchrun command, with: -m {resume}"
            print(f"\n{stop}\nresume with: {resume}", file=sys.stderr)
        return 130
    except LossNotFinite as error:
        print(f"rnnlab: {error}", file=sys.stderr)
        return 1
    _print_final(final, bool(run["json"]), bool(run["quiet"]))
    return 0


def _check_resume_flags(args: argparse.Namespace) -> None:
    """`rnnlab train TASK [flags] --resume RUN`: the run must be TASK's, and the flags (and preset) given must
    equal the run's settings, except --epochs and --minutes, which a resume may change."""
    from rnnlab import api
    from rnnlab.tasks import TASKS
    from rnnlab.tasks.options import field_defaults, upgrade_names

    if not args.task:
        return
    task, stored = api.run_options(args.resume)
    if task != args.task:
        raise UsageError(
            f"{args.resume} is a {task} run, not {args.task}; resume it with "
            f"rnnlab train --resume {shlex.quote(args.resume)}"
        )
    ignored = {"command", "task", "resume", "epochs", "minutes", "preset"} | set(RUN_FLAGS)
    given = {key: value for key, value in vars(args).items() if key not in ignored and value is not None}
    preset = getattr(args, "preset", None)
    if preset is not None:
        given = {**getattr(TASKS[task], "presets", {})[preset], **given}  # --preset exists only where presets do
    given = {k: v for k, v in upgrade_names(given).items() if k not in ("epochs", "minutes")}
    saved = {**field_defaults(TASKS[task].Options), **stored}
    differ = [
        f"{flag(name)}: the run has {saved.get(name)!r}, you gave {value!r}"
        for name, value in given.items()
        if not _same(saved.get(name), value)
    ]
    if differ:
        raise UsageError(
            f"a resumed run keeps its own settings ({'; '.join(differ)}); only --epochs and "
            f"--minutes may change (or start a new run without --resume)"
        )


def _same(saved, given) -> bool:
    if given == "auto" and isinstance(saved, str):
        return True  # an "auto" setting is resolved when the run is built and saved as chosen
    if isinstance(saved, (int, float)) and isinstance(given, (int, float)) and not isinstance(given, bool):
        return float(saved) == float(given)
    return saved == given


def _old_spellings(argv: list[str]) -> list[str]:
    """`train wordlm --mode sentence ...` -> `train wordlm-sentence ...` (tasks.OLD_MODES); `--mode stream` dropped."""
    from rnnlab.tasks import OLD_MODES, TASKS

    if not argv or argv[0] != "train":
        return argv
    at = next((i for i, a in enumerate(argv) if a in TASKS), None)
    if at is None:
        return argv
    for i in range(at + 1, len(argv)):
        if argv[i] == "--mode" and i + 1 < len(argv):
            mode, end = argv[i + 1], i + 2
        elif argv[i].startswith("--mode="):
            mode, end = argv[i].split("=", 1)[1], i + 1
        else:
            continue
        old, new = argv[at], OLD_MODES.get((argv[at], mode))
        if new is None:
            return argv  # argparse names the valid choices
        out = [*argv[:at], new, *argv[at + 1 : i], *argv[end:]]
        if new != old:
            _refuse_flags_of(old, new, out[at + 1 :])
        return out
    return argv


def _refuse_flags_of(old: str, new: str, args: list[str]) -> None:
    """UsageError for a flag of task `old` (its other mode) that task `new` does not take."""
    from rnnlab.tasks import TASKS

    def spellings(task: str) -> set:
        names = set()
        for field in fields(TASKS[task].Options):
            names |= {flag(field.name), *field.metadata.get("aliases", ())}
        return names

    only_old = spellings(old) - spellings(new)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in only_old:
            raise UsageError(f"{name} applies to {old} in --mode stream only; --mode sentence ({new}) does not take it")


def _print_final(final: dict, as_json: bool, quiet: bool) -> None:
    scalars = {k: v for k, v in final.items() if isinstance(v, (int, float, str)) and k != "samples"}
    print("final: " + "  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in scalars.items()))
    if as_json:
        print(json.dumps(final, ensure_ascii=False))


def _generate(args: argparse.Namespace) -> int:
    from rnnlab import api
    from rnnlab.generate import print_generation

    api.check_sampling(args.length, args.temperature, args.top_k, args.seed)
    task = api.load(args.run, checkpoint=args.checkpoint, backend=args.backend, device=args.device)
    if task.vocab is None:
        raise UsageError(f"task {task.name} is not a language model: nothing to generate")
    return print_generation(task.model, task.vocab, args)


def _runs(args: argparse.Namespace) -> int:
    from rnnlab.runs import run_runs

    return run_runs(args)


def _evaluate(args: argparse.Namespace) -> int:
    from rnnlab import api

    task = api.load(
        args.run, checkpoint=args.checkpoint, load_data=args.text is None, backend=args.backend, device=args.device
    )
    metrics = api.evaluate(
        task,
        text_path=args.text,
        unknown=args.unknown,
        dynamic_lr=args.dynamic_lr,
        dynamic_decay=args.dynamic_decay,
        dynamic_window=args.dynamic_window,
    )
    unknown_words = metrics.get("unknown_words", 0)
    if unknown_words and unknown_words > 0.05 * metrics["tokens"]:
        print(
            f"note: {unknown_words} of {metrics['tokens']} tokens ({unknown_words / metrics['tokens']:.0%}) are not "
            f"in the vocabulary and were scored as {task.vocab.unk!r}; write the text the way the training "
            f"text is written ({task.how_text_is_written()})",
            file=sys.stderr,
        )
    _print_final(metrics, args.json, False)
    return 0


def _export(args: argparse.Namespace) -> int:
    from rnnlab import api
    from rnnlab.backends import require_backend

    require_backend("torch")
    from rnnlab.backends.export import export_onnx

    task = api.load(args.run, checkpoint=args.checkpoint, backend="torch", device="cpu")
    path = export_onnx(task.model, args.onnx, opset=args.opset)
    print(f"wrote {path}")
    return 0


def _gradcheck(args: argparse.Namespace) -> int:
    from rnnlab.gradcheck_cli import run_gradcheck

    return run_gradcheck(args)


def _gradients(args: argparse.Namespace) -> int:
    from rnnlab import gradients

    try:
        radii = [float(r) for r in args.radii.split(",") if r.strip()]
    except ValueError:
        raise UsageError(f"--radii must be comma-separated numbers, got {args.radii!r}") from None
    report = gradients.run(
        cells=[c.strip() for c in args.cells.split(",") if c.strip()],
        steps=args.steps,
        hidden=args.hidden,
        seeds=args.seeds,
        batch=args.batch,
        trained=args.trained,
        radii=radii,
        forget_bias=args.forget_bias,
        clip_updates=args.clip_updates,
        out_dir=args.out,
    )
    print(gradients.format_report(report))
    print(f"wrote {args.out}/gradients.json and plots")
    if args.json:
        print(json.dumps(report.to_json()))
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(_old_spellings(list(sys.argv[1:] if argv is None else argv)))
    except UsageError as error:
        print(f"rnnlab: error: {error}", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {
        "train": _train,
        "generate": _generate,
        "evaluate": _evaluate,
        "gradcheck": _gradcheck,
        "export": _export,
        "gradients": _gradients,
        "runs": _runs,
        "inspect": run_inspect,
    }
    try:
        _check_numbers(args)
        return handlers[args.command](args)
    except UsageError as error:
        print(f"rnnlab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
