"""Generating from a language model: sampling (temperature, top-k, top-p), greedy, beam search.

    text = generate(model, vocab, "ROMEO:", length=200, temperature=0.8, top_p=0.9, rng=rng)
    texts = generate_samples(model, vocab, "ROMEO:", 200, count=5, rng=rng)   # one batch of 5
    for piece in generate_stream(model, vocab, "ROMEO:", 200, rng=rng): print(piece, end="")
    best = generate(model, vocab, "the", 20, beam=4)                            # beam.py

The prefix is run through the model in one forward pass (warming up the state); then
one token at a time is drawn from the distribution the settings shape, in HF's order:

    p = softmax(logits / temperature) -> only the top_k most likely -> only the smallest
        set of most likely tokens whose probability reaches top_p (nucleus) -> renormalise

or the argmax when `greedy` (or temperature 0). `count` samples run as one batch, each
with its own random stream (`rng` for the first, `rng.spawn` children for the others), so
the first of N samples is the sample `count=1` gives under the same seed. Word tokens are
joined as the vocabulary's `decode` joins them.

`add_generation_flags` and `print_generation` are the CLI's `generate` flags and output.
Left out: repetition penalties, stopping strings for sampling.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from typing import Optional, TextIO

import numpy as np

from rnnlab.beam import beam_search, select_batch
from rnnlab.engine.losses import softmax
from rnnlab.errors import UsageError


# ----------------------------------------------------------------------------- the distribution
def nucleus(probabilities: np.ndarray, top_p: float) -> np.ndarray:
    """`probabilities` (..., V) with all but the smallest set of most likely tokens whose total
    reaches `top_p` set to 0 (not renormalised). Ties are taken in id order; the most likely
    token always stays."""
    order = np.argsort(-probabilities, axis=-1, kind="stable")  # (..., V) most likely first
    ranked = np.take_along_axis(probabilities, order, axis=-1)  # (..., V)
    mass_before = np.cumsum(ranked, axis=-1) - ranked  # (..., V) probability of the tokens ranked above
    keep_ranked = mass_before < top_p - 1e-12  # a token is needed while the set so far falls short of p
    keep = np.empty_like(keep_ranked)
    np.put_along_axis(keep, order, keep_ranked, axis=-1)
    return np.where(keep, probabilities, 0.0)


def sampling_distribution(
    logits: np.ndarray, temperature: float = 1.0, top_k: Optional[int] = None, top_p: Optional[float] = None
) -> np.ndarray:
    """(..., V) logits -> (..., V) float64 probabilities after temperature, top-k, top-p."""
    logits = np.asarray(logits, dtype=np.float64)
    if top_k is not None and top_k < logits.shape[-1]:
        cutoff = np.partition(logits, -top_k, axis=-1)[..., -top_k, None]  # (..., 1) the k-th largest
        logits = np.where(logits >= cutoff, logits, -np.inf)
    probabilities = softmax(logits, temperature=temperature)
    if top_p is not None and top_p < 1.0:
        probabilities = nucleus(probabilities, top_p)
    return probabilities / probabilities.sum(axis=-1, keepdims=True)


def pick_tokens(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    greedy: bool = False,
    rngs=(),
) -> np.ndarray:
    """One token id per row of (B, V) logits -> (B,); row b draws from rngs[b]. The draw is
    the one `rng.choice(V, p=p)` makes (inverse CDF of one uniform), so a batch of one
    reproduces the samples of earlier versions of this module."""
    if greedy or temperature == 0:
        return np.argmax(logits, axis=-1)
    probabilities = sampling_distribution(logits, temperature, top_k, top_p)  # (B, V)
    cdf = np.cumsum(probabilities, axis=-1)  # (B, V)
    cdf /= cdf[:, -1:]
    uniforms = np.array([rng.random() for rng in rngs])  # (B,)
    tokens = (cdf <= uniforms[:, None]).sum(axis=-1)  # (B,) = searchsorted(cdf, u, side="right")
    return np.minimum(tokens, logits.shape[-1] - 1)


def next_token(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    greedy: bool = False,
    rng: Optional[np.random.Generator] = None,
    top_p: Optional[float] = None,
) -> int:
    """One token id from a (V,) row of logits."""
    rng = rng if rng is not None else np.random.default_rng()
    return int(pick_tokens(np.asarray(logits)[None], temperature, top_k, top_p, greedy, [rng])[0])


# ----------------------------------------------------------------------------- checks
def check_settings(
    length: int = 0,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    greedy: bool = False,
    beam: Optional[int] = None,
    length_penalty: float = 1.0,
    count: int = 1,
    stream: bool = False,
) -> None:
    """UsageError (one line, naming the flag) for settings that cannot work together."""
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise UsageError(f"--length must be an integer >= 0, got {length}")
    if length > 10**6:
        raise UsageError(f"--length of {length} is more than this sampler writes at once; use at most 1000000")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise UsageError(f"--temperature must be a number >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1] (1 keeps every token), got {top_p}")
    if count < 1:
        raise UsageError(f"--count must be >= 1, got {count}")
    if not math.isfinite(length_penalty):
        raise UsageError(f"--length-penalty must be a finite number, got {length_penalty}")
    if beam is not None:
        if beam < 1:
            raise UsageError(f"--beam must be >= 1 (1 is greedy search), got {beam}")
        sampling = [
            flag
            for flag, given in (
                ("--top-k", top_k is not None),
                ("--top-p", top_p is not None),
                ("--temperature", temperature not in (0, 1)),
                ("--greedy", greedy),
            )
            if given
        ]
        if sampling:
            raise UsageError(
                f"--beam searches for the most likely text and does not sample; drop "
                f"{' and '.join(sampling)}, or drop --beam to sample"
            )
        if count > beam:
            raise UsageError(f"--count {count} asks for more texts than --beam {beam} keeps; use --beam >= {count}")
        if stream:
            raise UsageError("--beam picks its text only when the search ends, so it cannot --stream; drop one of them")
    if stream and count > 1:
        raise UsageError(f"--stream prints one text as it is generated; drop --count {count} or --stream")


def _prompt(vocab, prefix: str, unknown: str) -> np.ndarray:
    ids = vocab.encode(prefix, unknown=unknown)
    if ids.size == 0:
        raise UsageError(
            "the prefix is empty (or every symbol in it was skipped); give at least one "
            "symbol from the vocabulary with --prefix"
        )
    return ids


def _end_id(vocab, end: Optional[str]) -> Optional[int]:
    if end is None:
        return None
    for symbol in (end, end.encode("utf-8").decode("unicode_escape", errors="ignore")):  # "\n" typed as \n
        if symbol in vocab:
            return vocab.stoi[symbol]
    raise UsageError(f"--end {end!r} is not a symbol of this vocabulary; give one it has (e.g. {vocab.itos[0]!r})")


def _rngs(rng: Optional[np.random.Generator], count: int) -> list[np.random.Generator]:
    rng = rng if rng is not None else np.random.default_rng()
    return [rng, *rng.spawn(count - 1)] if count > 1 else [rng]


def _join(vocab, prompt: np.ndarray, generated) -> str:
    separator = "" if vocab.kind == "char" else " "
    text = vocab.decode(prompt)
    return text + separator + vocab.decode(generated) if len(generated) else text


# ----------------------------------------------------------------------------- generation
def sampled_tokens(
    model,
    prompt: np.ndarray,
    length: int,
    count: int = 1,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    greedy: bool = False,
    rngs=(),
) -> Iterator[np.ndarray]:
    """Yields the (count,) token ids of each of `length` steps, the `count` samples run as one batch."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        logits, state = model.forward(prompt.reshape(-1, 1))  # (T, 1, V): the prefix once, for every sample
        rows = np.zeros(count, dtype=np.int64)
        logits, state = logits[-1, rows], select_batch(state, rows)  # (N, V), state with batch N
        for step in range(length):
            tokens = pick_tokens(logits, temperature, top_k, top_p, greedy, rngs)  # (N,)
            yield tokens
            if step + 1 < length:
                logits, state = model.forward(tokens.reshape(1, -1), state)  # (1, N, V)
                logits = logits[0]
    finally:
        model.train(was_training)


def generate_samples(
    model,
    vocab,
    prefix: str,
    length: int,
    count: int = 1,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    greedy: bool = False,
    rng: Optional[np.random.Generator] = None,
    unknown: str = "error",
    top_p: Optional[float] = None,
    beam: Optional[int] = None,
    length_penalty: float = 1.0,
    end: Optional[str] = None,
) -> list[str]:
    """`count` texts, each the prefix and its continuation: independent samples, or with `beam`
    the `count` best hypotheses of a beam search (best first)."""
    check_settings(length, temperature, top_k, top_p, greedy, beam, length_penalty, count)
    prompt = _prompt(vocab, prefix, unknown)
    if beam is not None:
        found = beam_search(model, prompt, length, beam, length_penalty, count, _end_id(vocab, end))
        return [_join(vocab, prompt, ids) for ids, _ in found]
    steps = list(sampled_tokens(model, prompt, length, count, temperature, top_k, top_p, greedy, _rngs(rng, count)))
    generated = np.array(steps, dtype=np.int64).reshape(length, count)  # (length, N)
    return [_join(vocab, prompt, generated[:, n]) for n in range(count)]


def generate(
    model,
    vocab,
    prefix: str,
    length: int,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    greedy: bool = False,
    rng: Optional[np.random.Generator] = None,
    unknown: str = "error",
    top_p: Optional[float] = None,
    beam: Optional[int] = None,
    length_penalty: float = 1.0,
    end: Optional[str] = None,
) -> str:
    """The prefix followed by `length` generated tokens, decoded."""
    return generate_samples(
        model, vocab, prefix, length, 1, temperature, top_k, greedy, rng, unknown, top_p, beam, length_penalty, end
    )[0]


def generate_stream(
    model,
    vocab,
    prefix: str,
    length: int,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    greedy: bool = False,
    rng: Optional[np.random.Generator] = None,
    unknown: str = "error",
    top_p: Optional[float] = None,
) -> Iterator[str]:
    """The text of `generate` (same settings, same seed) in pieces as it is made: the prefix,
    then each token (after a space for word vocabularies)."""
    check_settings(length, temperature, top_k, top_p, greedy, stream=True)
    prompt = _prompt(vocab, prefix, unknown)
    separator = "" if vocab.kind == "char" else " "
    yield vocab.decode(prompt)
    for tokens in sampled_tokens(model, prompt, length, 1, temperature, top_k, top_p, greedy, _rngs(rng, 1)):
        yield separator + vocab.decode(tokens)


# ----------------------------------------------------------------------------- the CLI's part
def add_generation_flags(parser: argparse.ArgumentParser) -> None:
    """Every flag of `rnnlab generate` that shapes the text (the run and engine flags are the CLI's)."""
    parser.add_argument("--prefix", required=True, help="text to start from")
    parser.add_argument("--length", type=int, default=200, help="tokens to generate [200]")
    parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature [1.0]; 0 is greedy")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k most likely only")
    parser.add_argument(
        "--top-p",
        type=float,
        default=None,
        metavar="P",
        help="nucleus sampling: among the fewest most likely tokens whose probability reaches P "
        "(after --temperature and --top-k)",
    )
    parser.add_argument("--greedy", action="store_true", help="always take the most likely token")
    parser.add_argument(
        "--beam",
        type=int,
        default=None,
        metavar="K",
        help="beam search with K hypotheses: the most likely text instead of a sample",
    )
    parser.add_argument(
        "--length-penalty",
        type=float,
        default=1.0,
        metavar="ALPHA",
        help="beam search ranks by sum(log p) / length**ALPHA [1.0]; matters with --end",
    )
    parser.add_argument(
        "--end",
        default=None,
        metavar="SYMBOL",
        help="beam search: a hypothesis may end at this symbol (e.g. '<eos>', or '\\n' for characters)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=1,
        metavar="N",
        help="N independent samples in one batch (with --beam: the N best hypotheses) [1]",
    )
    parser.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    parser.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    parser.add_argument(
        "--unknown",
        choices=("error", "skip"),
        default="error",
        help="what to do with prefix symbols outside the vocabulary [error]",
    )


def generation_settings(args: argparse.Namespace) -> dict:
    """The keyword arguments of `generate_samples` (less model, vocab, rng) from parsed flags."""
    return dict(
        prefix=args.prefix,
        length=args.length,
        count=args.count,
        temperature=args.temperature,
        top_k=args.top_k,
        greedy=args.greedy,
        unknown=args.unknown,
        top_p=args.top_p,
        beam=args.beam,
        length_penalty=args.length_penalty,
        end=args.end,
    )


def print_generation(model, vocab, args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """What `rnnlab generate` prints: the text (streamed with --stream), or each of --count texts
    under a `--- sample i of N ---` line. Returns the exit code."""
    out = out if out is not None else sys.stdout
    settings = generation_settings(args)
    check_settings(
        args.length,
        args.temperature,
        args.top_k,
        args.top_p,
        args.greedy,
        args.beam,
        args.length_penalty,
        args.count,
        args.stream,
    )
    rng = np.random.default_rng(args.seed)
    if args.stream:
        del settings["count"], settings["beam"], settings["length_penalty"], settings["end"]
        for piece in generate_stream(model, vocab, rng=rng, **settings):
            out.write(piece)
            out.flush()
        out.write("\n")
        return 0
    texts = generate_samples(model, vocab, rng=rng, **settings)
    for number, text in enumerate(texts, start=1):
        if len(texts) > 1:
            print(f"--- sample {number} of {len(texts)} ---", file=out)
        print(text, file=out)
    return 0
