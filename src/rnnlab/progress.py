"""Progress within an epoch: a tqdm bar in a terminal, plain lines anywhere else.

    progress = epoch_progress(total, epoch, epochs, done=position, enabled=True)
    progress.update(loss_mean, ppl, tokens_per_s)   # after each step
    progress.close()

When stderr is a terminal and tqdm is installed: tqdm's bar, as always. Otherwise (a file,
a pipe, nohup, CI, or no tqdm) one plain line every 10% of the epoch or every 30 seconds,
whichever comes first, with no carriage returns:

    epoch 1/3 step 120/400 (30%) | loss 2.1234 | ppl 8.37 | tok/s 12,345 | eta 0:45
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

EVERY_SHARE = 0.10  # of the epoch
EVERY_SECONDS = 30.0


def epoch_progress(
    total: int,
    epoch: int,
    epochs: int,
    done: int = 0,
    enabled: bool = True,
    stream: Optional[TextIO] = None,
    loss_name: str = "loss",
):
    """The progress display for one epoch of `total` steps, `done` of them already (a resume)."""
    stream = stream if stream is not None else sys.stderr
    if not enabled:
        return NoProgress()
    if _is_terminal(stream):
        try:
            return TqdmBar(total, epoch, epochs, done, stream, loss_name)
        except ImportError:
            pass
    return PlainLines(total, epoch, epochs, done, stream, loss_name)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class NoProgress:
    def update(self, loss: float, ppl: Optional[float] = None, tokens_per_s: Optional[float] = None) -> None:
        pass

    def close(self) -> None:
        pass


class TqdmBar(NoProgress):
    def __init__(self, total, epoch, epochs, done, stream, loss_name) -> None:
        from tqdm import tqdm

        self.loss_name = loss_name
        self.bar = tqdm(
            total=total,
            desc=f"epoch {epoch + 1}" + (f"/{epochs}" if epochs else ""),
            leave=False,
            file=stream,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        if done:
            self.bar.update(done)

    def update(self, loss, ppl=None, tokens_per_s=None) -> None:
        postfix = {self.loss_name: f"{loss:.4f}"}
        if ppl is not None:
            postfix["ppl"] = f"{ppl:.2f}"
        if tokens_per_s is not None:
            postfix["tok/s"] = f"{tokens_per_s:,.0f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class PlainLines(NoProgress):
    """A line at every 10% of the epoch or every 30 s, whichever comes first; none at the epoch's
    end (the evaluation summary follows)."""

    def __init__(self, total, epoch, epochs, done, stream, loss_name, clock=time.perf_counter) -> None:
        self.total, self.epoch, self.epochs, self.done = total, epoch, epochs, done
        self.stream, self.loss_name, self.clock = stream, loss_name, clock
        self.started = self.last_line = clock()
        self.started_at = done
        self.every = max(1, int(total * EVERY_SHARE))
        self.next_count = (done // self.every + 1) * self.every

    def update(self, loss, ppl=None, tokens_per_s=None) -> None:
        self.done += 1
        now = self.clock()
        if self.done >= self.total:
            return
        if self.done < self.next_count and now - self.last_line < EVERY_SECONDS:
            return
        self.next_count = (self.done // self.every + 1) * self.every
        self.last_line = now
        self.stream.write(self.line(loss, ppl, tokens_per_s, now) + "\n")
        self.stream.flush()

    def line(self, loss, ppl, tokens_per_s, now) -> str:
        parts = [
            f"epoch {self.epoch + 1}{f'/{self.epochs}' if self.epochs else ''} step {self.done}/{self.total} "
            f"({100 * self.done / max(self.total, 1):.0f}%)",
            f"{self.loss_name} {loss:.4f}",
        ]
        if ppl is not None:
            parts.append(f"ppl {ppl:.2f}")
        if tokens_per_s is not None:
            parts.append(f"tok/s {tokens_per_s:,.0f}")
        steps = self.done - self.started_at
        if steps > 0:
            parts.append(f"eta {_clock_time((now - self.started) / steps * (self.total - self.done))}")
        return " | ".join(parts)


def _clock_time(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
