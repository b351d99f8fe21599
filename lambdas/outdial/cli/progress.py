"""How far a bulk command has got, on stderr: a tqdm bar on a terminal, one line per batch
otherwise (so logs and CI show it too)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from outdial.cli.calls_csv import Batch, Result


def note(message: str) -> None:
    """A line for the person running the command (stderr: stdout stays for data)."""
    print(message, file=sys.stderr, flush=True)


class Progress:
    """A progress bar on a terminal (tqdm: rows done, accepted, rejected, rate, ETA); one line per
    batch otherwise, so logs and CI show how far a run got."""

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar
        self.accepted = 0
        self.rejected = 0
        self.batches = 0

    def batch_done(self, batch: Batch, results: dict[int, Result], total: int) -> None:
        accepted = sum(results[row.line].accepted for row in batch.rows)
        self.accepted += accepted
        self.rejected += len(batch.rows) - accepted
        self.batches += 1
        if self._bar is None:
            note(
                f"batch {batch.index + 1} of {total}: {accepted} accepted, "
                f"{len(batch.rows) - accepted} rejected ({self.batches} of {total} done)"
            )
            return
        self._bar.set_postfix(accepted=self.accepted, rejected=self.rejected, refresh=False)
        self._bar.update(len(batch.rows))

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)


@contextmanager
def showing_progress(total: int, unit: str, initial: int = 0) -> Iterator[Progress]:
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ModuleNotFoundError:  # installed without the local extra: no bar
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=total, initial=initial, unit=unit, file=sys.stderr, dynamic_ncols=True)
    try:
        yield Progress(bar)
    finally:
        if bar is not None:
            bar.close()
