"""The service's log lines, captured as Powertools formats them (helpers, not tests)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from outdial.observability import logger


@contextmanager
def log_lines() -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines written meanwhile, formatted as they are emitted (the per-record keys
    only exist while the record is handled)."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    collect = Collect()
    collect.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(collect)
    try:
        yield lines
    finally:
        logging.getLogger(logger.name).removeHandler(collect)
