"""Batch samplers for language models: one long id stream -> (X, Y) minibatches.

Every sampler returns time-major int64 arrays X, Y of shape (T, B) with Y the
next token of X (Y[t, b] = stream[i + 1] where X[t, b] = stream[i]), and is
resumable: `state()` is a small JSON-able dict with the epoch, the position within
it and the RNG state at the start of the epoch; `set_state(d)` puts a fresh
sampler on the same data back there, so a run continues mid-epoch with exactly
the batches it would have seen.

| sampler              | origin                    | hidden state between batches |
| -------------------- | ------------------------- | ---------------------------- |
| `RandomWindows`      | d2l random sampling       | re-initialised every batch   |
| `ConsecutiveWindows` | d2l consecutive sampling  | carried over, detached       |
| `BpttWindows`        | pytorch word_language_model (over `batchify`) | carried over, detached |
| `StridedWindows` (windows.py) | the Keras text-generation example | re-initialised; one target per window |

`sampler.carries_state` says which, so a training loop need not know the kind.
`len(sampler)` is the number of batches per epoch (the same in every epoch).

Data parallelism: each sampler takes `columns=` (a slice of the batch columns) or
`rank=` / `world_size=` (equal contiguous shards); the shards of all ranks,
concatenated along axis 1, are the full batch.

Left out: variable-length BPTT (AWD-LSTM); padding and bucketing of sentences.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional, Union

import numpy as np

from rnnlab.errors import UsageError

__all__ = ["RandomWindows", "ConsecutiveWindows", "batchify", "BpttWindows"]

Batch = tuple[np.ndarray, np.ndarray]  # X, Y: (T, B) int64 each
RngLike = Union[np.random.Generator, int, None]


def _as_stream(ids: Any) -> np.ndarray:
    stream = np.asarray(ids, dtype=np.int64)
    if stream.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {stream.shape}")
    return stream


def _positive(value: int, flag: str) -> int:
    if int(value) != value or value < 1:
        raise UsageError(f"{flag} must be a positive integer, got {value!r}")
    return int(value)


def _shard(batch_size: int, columns: Optional[slice], rank: Optional[int], world_size: Optional[int]) -> slice:
    """The slice of batch columns this process uses."""
    if columns is not None and (rank is not None or world_size is not None):
        raise ValueError("give either columns= or rank=/world_size=, not both")
    if columns is not None:
        start, stop, step = columns.indices(batch_size)
        if step != 1 or stop <= start:
            raise UsageError(
                f"column shard {columns} of a batch of {batch_size} is empty or strided; "
                f"give a contiguous, non-empty slice"
            )
        return slice(start, stop)
    if rank is None and world_size is None:
        return slice(0, batch_size)
    if rank is None or world_size is None:
        raise ValueError("rank= and world_size= go together")
    world_size = _positive(world_size, "world size")
    if not 0 <= rank < world_size:
        raise UsageError(f"rank {rank} is outside 0..{world_size - 1} for world size {world_size}")
    if batch_size % world_size:
        raise UsageError(
            f"--batch-size {batch_size} does not split evenly over {world_size} processes; "
            f"make it a multiple of {world_size}"
        )
    width = batch_size // world_size
    return slice(rank * width, (rank + 1) * width)


class _EpochSampler:
    """Shared machinery: epochs drawn from an RNG, a batch cursor, state()/set_state().

    Resuming re-draws the epoch's plan from the saved RNG state (taken at the start
    of the epoch) and skips to the saved batch, so the state stays a few numbers.
    """

    kind = ""
    carries_state = False

    def __init__(
        self,
        ids: Any,
        seq_len: int,
        batch_size: int,
        rng: RngLike = None,
        columns: Optional[slice] = None,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
    ) -> None:
        self.stream = _as_stream(ids)  # (N,)
        self.seq_len = _positive(seq_len, "--seq-len")
        self.batch_size = _positive(batch_size, "--batch-size")
        self.columns = _shard(self.batch_size, columns, rank, world_size)
        # The sampler draws from (and on set_state() overwrites) this generator:
        # give it one of its own so other consumers don't disturb the batches.
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self._check_length()
        self.epoch_index = 0  # epochs completed
        self._batch = 0  # next batch to serve within the current epoch
        self._plan: Any = None  # this epoch's random draws, None until drawn
        self._epoch_rng: Optional[Mapping[str, Any]] = None  # RNG state the plan was drawn from

    # -- subclasses: what an epoch draws, and batch i of it ------------------------------
    def _check_length(self) -> None:
        """UsageError when the stream cannot fill one batch."""
        n, T, B = len(self.stream), self.seq_len, self.batch_size
        # Start offsets are drawn from 0..T-1; the worst one must still leave room
        # for B windows of T tokens plus the one-token shift of Y.
        needed = T * (B + 1)
        if n < needed:
            raise UsageError(
                f"text too short for one batch: --seq-len {T} and --batch-size {B} need at least "
                f"{needed:,} tokens (seq_len * (batch_size + 1)), got {n:,}; "
                f"lower --batch-size or --seq-len, or use a longer text"
            )

    def _draw(self) -> Any:
        raise NotImplementedError

    def _starts(self, plan: Any, i: int) -> np.ndarray:
        """Stream positions of X[0, :] for batch i: (B,)."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    # -- iteration ---------------------------------------------------------------------
    def _ensure_plan(self) -> None:
        if self._plan is None:
            self._epoch_rng = self.rng.bit_generator.state
            self._plan = self._draw()

    def batch(self, i: int) -> Batch:
        """Batch i of the current epoch (drawing the epoch's plan if not yet drawn)."""
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} is past the end ({len(self)} batches)")
        self._ensure_plan()
        starts = self._starts(self._plan, i)[self.columns]  # (B',)
        idx = starts[None, :] + np.arange(self.seq_len)[:, None]  # (T, B')
        return self.stream[idx], self.stream[idx + 1]  # X, Y: (T, B') each

    @property
    def at_epoch_start(self) -> bool:
        """True while the first batch of an epoch is in use (a caller carrying state resets it then)."""
        return self._batch == 1

    def epoch(self) -> Iterator[Batch]:
        """The rest of the current epoch's batches, then the epoch counts as done.

        Breaking out early keeps the position: the next `epoch()` continues there.
        """
        self._ensure_plan()
        while self._batch < len(self):
            i = self._batch
            self._batch += 1  # advance first: state() taken while batch i is in use points past it
            yield self.batch(i)
        self._next_epoch()

    def _next_epoch(self) -> None:
        self.epoch_index += 1
        self._batch = 0
        self._plan = None

    # -- resuming ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able position: {"kind", "epoch", "batch", "rng", and the settings it is valid for}."""
        epoch, batch, rng = self.epoch_index, self._batch, self._epoch_rng
        if self._plan is None or batch >= len(self):
            # Not started, or finished but not yet rolled over: the next epoch's start,
            # whose plan the generator's current state will draw.
            epoch, batch, rng = epoch + (self._plan is not None), 0, self.rng.bit_generator.state
        return {
            "kind": self.kind,
            "epoch": epoch,
            "batch": batch,
            "rng": rng,
            "n_tokens": len(self.stream),
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
        }

    def set_state(self, d: dict[str, Any]) -> None:
        """Continue from `state()` of a sampler over the same data and settings."""
        _check_state(d, self.kind, n_tokens=len(self.stream), seq_len=self.seq_len, batch_size=self.batch_size)
        if not 0 <= d["batch"] <= len(self):
            raise UsageError(
                f"saved data position (batch {d['batch']}) is past the end of an epoch of "
                f"{len(self)} batches; the checkpoint does not match this data"
            )
        self.rng.bit_generator.state = d["rng"]
        self.epoch_index = int(d["epoch"])
        self._plan = None
        self._ensure_plan()  # re-draw the saved epoch's plan from its RNG state
        self._batch = int(d["batch"])
        if self._batch >= len(self):
            self._next_epoch()


def _check_state(d: dict[str, Any], kind: str, **settings: int) -> None:
    if not isinstance(d, dict) or d.get("kind") != kind:
        got = d.get("kind") if isinstance(d, dict) else type(d).__name__
        raise UsageError(
            f"saved data position is for a {got!r} sampler, not {kind!r}; "
            f"resume with the same --sampler as the original run"
        )
    for key, value in settings.items():
        if d.get(key) != value:
            raise UsageError(
                f"saved data position has {key}={d.get(key)!r} but this run has {value!r}; "
                f"resume with the same data and settings as the original run"
            )


class RandomWindows(_EpochSampler):
    """d2l random sampling: windows from anywhere, shuffled; state re-initialised per batch.

    Each epoch draws an offset k in [0, T) and cuts the stream after it into
    windows of T tokens, then shuffles the windows and deals B per batch::

        stream  |k| w0  | w1  | w2  | w3  | w4  | w5  | w6  |..|   (T tokens each)
        shuffle     w4    w0    w6    w2    w1    w5    w3
        batch 0 = [w4 w0 w6]  batch 1 = [w2 w1 w5]  (w3 left over)
        X = the B windows as columns, (T, B); Y = each window shifted by one token

    Windows per epoch = (N - T) // T (the count for the largest offset, so every
    epoch has the same number of batches, len = windows // B). Neighbouring
    columns are unrelated text, so the caller starts every batch from a zero
    state (`carries_state` is False).

        >>> s = RandomWindows(np.arange(100), seq_len=5, batch_size=3, rng=0)
        >>> X, Y = next(s.epoch()); X.shape, bool((Y == X + 1).all())
        ((5, 3), True)
    """

    kind = "random"
    carries_state = False

    def __len__(self) -> int:
        return self._n_windows() // self.batch_size

    def _n_windows(self) -> int:
        return (len(self.stream) - self.seq_len) // self.seq_len

    def _draw(self) -> tuple[int, np.ndarray]:
        offset = int(self.rng.integers(self.seq_len))
        order = self.rng.permutation(self._n_windows())  # (n_windows,)
        return offset, order

    def _starts(self, plan: tuple[int, np.ndarray], i: int) -> np.ndarray:
        offset, order = plan
        B = self.batch_size
        return offset + order[i * B : (i + 1) * B] * self.seq_len  # (B,)


class ConsecutiveWindows(_EpochSampler):
    """d2l consecutive (adjacent) sampling: B parallel streams read T tokens at a time.

    Each epoch draws an offset k in [0, T) (d2l.ai's `seq_data_iter_sequential`) and cuts
    the stream after it into B rows of L = len(self) * T tokens; batch i is the i-th window
    of every row, so column b of batch i+1 continues column b of batch i::

        stream  |k| row 0 ............ | row 1 ............ | row 2 ............ |
                    batch0 batch1 batch2 ...
        row 0:  [ t0..t4 | t5..t9 | t10..t14 ]      X of batch i = window i of each row
        row 1:  [ u0..u4 | u5..u9 | u10..u14 ]      as columns, (T, B)
        row 2:  [ v0..v4 | v5..v9 | v10..v14 ]

    The caller carries the hidden state from batch to batch, detached from the
    graph (`carries_state` is True), and resets it at the start of each epoch.
    Batches per epoch = ((N - T) // B) // T.

    `offset=0` (any fixed k) is the Chinese edition's `data_iter_consecutive` instead: the
    same k every epoch and rows of L = (N - k) // B tokens, `stream[k : k + B*L]` reshaped
    (B, L), read in (L - 1) // T windows (the last token of a row is only ever a target)::

        >>> s = ConsecutiveWindows(np.arange(100), seq_len=6, batch_size=4, offset=0)
        >>> X, Y = next(s.epoch()); len(s), X[:, 0].tolist(), X[0].tolist()
        (4, [0, 1, 2, 3, 4, 5], [0, 25, 50, 75])
    """

    kind = "consecutive"
    carries_state = True

    def __init__(
        self,
        ids: Any,
        seq_len: int,
        batch_size: int,
        rng: RngLike = None,
        columns: Optional[slice] = None,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        super().__init__(ids, seq_len, batch_size, rng, columns, rank, world_size)
        if offset is not None and not 0 <= offset < self.seq_len:
            raise UsageError(f"a fixed sampling offset must be in [0, --seq-len), got {offset!r}")
        self.offset = offset  # None: drawn per epoch

    def __len__(self) -> int:
        if self.offset is not None:
            return ((len(self.stream) - self.offset) // self.batch_size - 1) // self.seq_len
        return (len(self.stream) - self.seq_len) // self.batch_size // self.seq_len

    def _draw(self) -> int:
        return self.offset if self.offset is not None else int(self.rng.integers(self.seq_len))

    def _starts(self, plan: int, i: int) -> np.ndarray:
        if self.offset is not None:
            row_len = (len(self.stream) - self.offset) // self.batch_size
        else:
            row_len = len(self) * self.seq_len
        return plan + np.arange(self.batch_size) * row_len + i * self.seq_len  # (B,)

    def state(self) -> dict[str, Any]:
        state = super().state()
        if self.offset is not None:
            state["offset"] = self.offset
        return state

    def set_state(self, d: dict[str, Any]) -> None:
        if isinstance(d, dict) and d.get("kind") == self.kind and d.get("offset") != self.offset:
            raise UsageError(
                f"saved data position has offset={d.get('offset')!r} but this run has "
                f"{self.offset!r}; resume with the same sampling settings as the original run"
            )
        super().set_state(d)


def batchify(ids: Any, batch_size: int) -> np.ndarray:
    """Cut a stream into `batch_size` columns, as pytorch/examples word_language_model does.

    Column b is the b-th contiguous slice of the stream; the tail that does not
    fill a whole row is dropped::

        stream a b c d e f g h i j k l m n o p q r s t u v w x y z, batch_size 4
        + a g m s +
        | b h n t |
        | c i o u |     (6, 4): 26 // 4 = 6 rows, y and z dropped
        | d j p v |
        | e k q w |
        + f l r x +

    Returns an int64 array of shape (N // batch_size, batch_size).
    """
    stream = _as_stream(ids)  # (N,)
    B = _positive(batch_size, "--batch-size")
    n_steps = len(stream) // B
    if n_steps < 2:
        raise UsageError(
            f"text too short to batchify: --batch-size {B} needs at least {2 * B:,} tokens "
            f"(two per column), got {len(stream):,}; lower --batch-size or use a longer text"
        )
    return stream[: n_steps * B].reshape(B, n_steps).T.copy()  # (n_steps, B)


class BpttWindows:
    """Truncated-BPTT windows down a `batchify`-ed array, as in word_language_model.

    Window i takes rows [i*bptt, i*bptt + bptt) as X and the rows one below as Y;
    the last window is shorter when the rows don't divide evenly::

        data (n_steps, B)       X        Y
        + a g m s +          + a g m s + + b h n t +
        | b h n t |  bptt=2  + b h n t + + c i o u +   window 0
        | c i o u |          + c i o u + + d j p v +
        | d j p v |          + d j p v + + e k q w +   window 1
        | e k q w |          + e k q w + + f l r x +   window 2 (one row: T=1)
        + f l r x +

    Every column is one contiguous stream, so the caller carries the hidden state
    from window to window, detached (`carries_state` is True). There is no
    randomness; `state()` is the epoch and the next window.
    """

    kind = "bptt"
    carries_state = True

    def __init__(
        self,
        data: np.ndarray,
        bptt: int,
        columns: Optional[slice] = None,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
    ) -> None:
        data = np.asarray(data, dtype=np.int64)
        if data.ndim != 2:
            raise ValueError(f"data must be (n_steps, B) from batchify(), got shape {data.shape}")
        if data.shape[0] < 2:
            raise UsageError(
                f"text too short for one BPTT window: needs at least 2 tokens per column, "
                f"got {data.shape[0]}; lower --batch-size or use a longer text"
            )
        self.bptt = _positive(bptt, "--bptt")
        self.columns = _shard(data.shape[1], columns, rank, world_size)
        self.data = data  # (n_steps, B)
        self.epoch_index = 0  # epochs completed
        self._batch = 0  # next window to serve

    def __len__(self) -> int:
        return -(-(self.data.shape[0] - 1) // self.bptt)  # ceil((n_steps - 1) / bptt)

    def batch(self, i: int) -> Batch:
        """Window i: X = rows [i*bptt, i*bptt + T), Y = the rows one below; (T, B') each."""
        start = i * self.bptt
        T = min(self.bptt, self.data.shape[0] - 1 - start)
        if T < 1:
            raise IndexError(f"window {i} is past the end ({len(self)} windows)")
        X = self.data[start : start + T, self.columns].copy()  # (T, B')
        Y = self.data[start + 1 : start + 1 + T, self.columns].copy()  # (T, B')
        return X, Y

    @property
    def at_epoch_start(self) -> bool:
        """True while the first window of an epoch is in use (the caller resets the carried state)."""
        return self._batch == 1

    def epoch(self) -> Iterator[Batch]:
        """The rest of this epoch's windows in order, then the epoch counts as done."""
        while self._batch < len(self):
            i = self._batch
            self._batch += 1
            yield self.batch(i)
        self.epoch_index += 1
        self._batch = 0

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch()

    def state(self) -> dict[str, Any]:
        """JSON-able position: {"kind", "epoch", "batch", and the settings it is valid for}."""
        epoch, batch = self.epoch_index, self._batch
        if batch >= len(self):  # finished but not yet rolled over
            epoch, batch = epoch + 1, 0
        return {
            "kind": self.kind,
            "epoch": epoch,
            "batch": batch,
            "n_steps": int(self.data.shape[0]),
            "batch_size": int(self.data.shape[1]),
            "bptt": self.bptt,
        }

    def set_state(self, d: dict[str, Any]) -> None:
        """Continue from `state()` of a sampler over the same data and settings."""
        _check_state(d, self.kind, n_steps=int(self.data.shape[0]), batch_size=int(self.data.shape[1]), bptt=self.bptt)
        if not 0 <= d["batch"] <= len(self):
            raise UsageError(
                f"saved data position (window {d['batch']}) is past the end of an epoch of "
                f"{len(self)} windows; the checkpoint does not match this data"
            )
        self.epoch_index, self._batch = int(d["epoch"]), int(d["batch"])
        if self._batch >= len(self):
            self.epoch_index, self._batch = self.epoch_index + 1, 0
