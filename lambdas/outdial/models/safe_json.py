"""JSON from strangers: parsed with bounds, so no body can make the parser or later code fail.

``json.loads`` alone lets through what later code trips over: nesting deep enough to exhaust
the recursion limit (``RecursionError``), lone UTF-16 surrogates (``"\\ud800"``: any ``encode()``
raises ``UnicodeEncodeError``), ``NaN``/``Infinity`` and floats that overflow to ``inf`` (which
no JSON can carry back out). Each is refused here with ``UnsafeJson``, a ``ValueError``.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # our bodies nest 4 deep (calls → call → keys → key); 32 leaves room for clients


class UnsafeJson(ValueError):
    """The text is not JSON, or is JSON we refuse to hold."""


def _no_constants(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson(f"number {text[:20]} is out of range")
    return value


def check_value(data: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``UnsafeJson`` if ``data`` nests deeper than ``max_depth`` or holds a string (or an
    object key) that is not valid Unicode. Iterative: the check itself cannot recurse too deep."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise UnsafeJson(f"nested deeper than {max_depth} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJson("a string holds a lone surrogate (not valid Unicode)") from None


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` as JSON within the bounds above; ``UnsafeJson`` says what is wrong."""
    try:
        data = json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
    except UnsafeJson:
        raise
    except RecursionError:
        raise UnsafeJson(f"nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, huge ints, bad UTF-8
        raise UnsafeJson(f"not JSON: {str(exc)[:120]}") from None
    check_value(data, max_depth)
    return data
