"""`rnnlab inspect RUN ...`: the subcommand's flags and handler (cli.py wires them in two lines).

add_inspect_parser(subparsers)     # in build_parser()
handlers["inspect"] = run_inspect  # in main(); a UsageError becomes one line and exit code 2
"""

from __future__ import annotations

import argparse

from rnnlab.inspect.report import DEFAULT_LENGTH, DEFAULT_UNITS


def add_inspect_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "inspect",
        help="a page showing what a language model's units and gates learned",
        description="Read a text (or the validation split) with a trained charlm/wordlm run and write "
        "inspect.html (one offline page: the text coloured by any unit and by surprisal, the top-5 "
        "predictions on hover, units found by correlation with text features, gate saturation), "
        "inspect.json, activations.safetensors and PNGs.",
    )
    parser.add_argument("run", metavar="RUN")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", metavar="PATH", help="a UTF-8 file to read [default: --split val]")
    source.add_argument("--split", choices=("val",), help="read the run's validation split (the default)")
    parser.add_argument(
        "--length", type=int, default=DEFAULT_LENGTH, help=f"symbols to read and show [{DEFAULT_LENGTH}]"
    )
    parser.add_argument(
        "--units",
        type=int,
        default=None,
        help=f"units per layer and state kind embedded in the page's picker, the most "
        f"feature-correlated ones (found units are always added) "
        f"[{DEFAULT_UNITS}, or all if fewer]",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder [RUN/inspect]")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--lstmvis", metavar="DIR2", help="also write LSTMVis's files here (needs h5py)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best")
    return parser


def run_inspect(args: argparse.Namespace) -> int:
    from rnnlab.inspect.report import inspect

    result = inspect(
        args.run,
        text=args.text,
        split=args.split,
        length=args.length,
        units=args.units,
        out=args.out,
        force=args.force,
        lstmvis=args.lstmvis,
        checkpoint=args.checkpoint,
    )
    print(
        f"read {result['symbols']} symbols; wrote {result['out']}/inspect.html "
        f"({result['page_bytes'] / 1e6:.2f} MB) and {len(result['files']) - 1} more files"
    )
    for item in result["found"]:
        if item["units"]:
            u = item["units"][0]
            print(f"  {item['feature']:<18} layer {u['layer']} {u['kind']}[{u['unit']}]  r = {u['r']:+.3f}")
    return 0


def main(argv=None) -> int:
    """`python -m rnnlab.inspect RUN ...`: the subcommand on its own, with the CLI's error handling."""
    import sys

    from rnnlab.errors import UsageError

    parser = argparse.ArgumentParser(prog="rnnlab")
    add_inspect_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["inspect", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_inspect(args)
    except UsageError as error:
        print(f"rnnlab: error: {error}", file=sys.stderr)
        return 2
