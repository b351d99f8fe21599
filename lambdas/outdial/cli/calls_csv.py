"""A CSV of calls, read and checked locally, cut into the batches ``outdial calls submit`` sends.

Pure functions over text: no network, no clock. The batches of a file are the same bytes on every
run (same rows, same order, same JSON), so a re-run's batch is recognised by the API as the one
already accepted (its ``Idempotency-Key``, or else its checksum: 201 with the original ids).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from outdial.cli.errors import UsageError

BATCH_SIZE = 500  # the API's limit of calls per request (SPEC §2)
MAX_NUMBERS = 10
MAX_CLIENT_IDENTIFIER = 128
NUMBER_COLUMNS = tuple(f"contact-number-{n}" for n in range(1, MAX_NUMBERS + 1))
NUMBERS_COLUMN = "contact-numbers"
KEY_PREFIX = "key."
KEY_COLUMN = re.compile(r"^key\.[A-Za-z0-9_]+$")
# What a contact number may look like before the API checks it against the account's region:
# digits, an optional leading +, and the separators people type.
_NUMBER = re.compile(r"^\+?[0-9]{6,15}$")
_SEPARATORS = re.compile(r"[\s\-().]")
RESULT_COLUMNS = ("client-identifier", "phonon-uuid", "error-code", "error-message")

# The contract's codes for what the local checks find (SPEC §2, check 13).
INVALID_FORMAT, INVALID_MANDATORY_PARAMETERS, INVALID_CONTACT_NUMBER = 400, 210, 205


@dataclass(frozen=True)
class Row:
    """One input row: where it is in the file, and either its call or why it cannot be sent."""

    line: int
    client_identifier: str
    call: dict[str, Any] | None = None
    error_code: int | None = None
    error_message: str = ""


@dataclass(frozen=True)
class Batch:
    """Up to 500 valid rows, as the exact bytes of the request that carries them."""

    index: int
    rows: tuple[Row, ...]
    body: bytes
    idempotency_key: str


@dataclass
class Result:
    """What became of one row: a phonon-uuid, or an error code and message."""

    client_identifier: str
    phonon_uuid: str = ""
    error_code: int | str = ""
    error_message: str = ""

    @property
    def accepted(self) -> bool:
        return bool(self.phonon_uuid)

    def as_csv(self) -> list[str]:
        return [self.client_identifier, self.phonon_uuid, str(self.error_code), self.error_message]


@dataclass
class ParsedFile:
    rows: list[Row]
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def valid(self) -> list[Row]:
        return [row for row in self.rows if row.call is not None]

    @property
    def invalid(self) -> list[Row]:
        return [row for row in self.rows if row.call is None]


def read_text(path: Path) -> tuple[bytes, str]:
    """The file's bytes (the batches' keys derive from them) and its text (UTF-8, BOM allowed)."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return content, content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text (byte {exc.start}): save it as CSV UTF-8"
        ) from None


def parse_calls(text: str) -> ParsedFile:
    """Every data row of the CSV ``text`` with its line number, checked as far as can be done
    without the account (its region and time zone decide the rest, on the server)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError("the file is empty: the first line names the columns") from None
    columns = _check_header([name.strip() for name in header])
    rows: list[Row] = []
    line = reader.line_num + 1
    for record in reader:
        if any(cell.strip() for cell in record):
            rows.append(_row(line, dict(zip(columns.names, record, strict=False)), columns))
        line = reader.line_num + 1
    if not rows:
        raise UsageError("the file has a header but no rows")
    return ParsedFile(rows, columns.ignored)


@dataclass(frozen=True)
class _Columns:
    names: list[str]
    numbers: tuple[str, ...]
    keys: tuple[str, ...]
    ignored: list[str]


def _check_header(names: list[str]) -> _Columns:
    duplicates = sorted({name for name in names if names.count(name) > 1 and name})
    if duplicates:
        raise UsageError(f"columns named twice: {', '.join(duplicates)}")
    missing = [name for name in ("client-identifier", "start-time") if name not in names]
    if missing:
        raise UsageError(f"missing column(s): {', '.join(missing)}")
    numbered = tuple(name for name in NUMBER_COLUMNS if name in names)
    if numbered and NUMBERS_COLUMN in names:
        raise UsageError(
            f"give the numbers either as {NUMBERS_COLUMN} (separated by ';') or as "
            "contact-number-1 ... contact-number-10, not both"
        )
    if not numbered and NUMBERS_COLUMN not in names:
        raise UsageError(
            f"no number column: add {NUMBERS_COLUMN} (separated by ';') or contact-number-1 ..."
        )
    bad_keys = [n for n in names if n.startswith(KEY_PREFIX) and not KEY_COLUMN.match(n)]
    if bad_keys:
        raise UsageError(
            f"key column(s) {', '.join(bad_keys)}: write key.<name> with letters, digits and _"
        )
    keys = tuple(name for name in names if KEY_COLUMN.match(name))
    known = {"client-identifier", "start-time", NUMBERS_COLUMN, *NUMBER_COLUMNS, *keys}
    ignored = [name for name in names if name not in known]
    return _Columns(names, numbered or (NUMBERS_COLUMN,), keys, ignored)


def _row(line: int, cells: dict[str, str], columns: _Columns) -> Row:
    client_identifier = (cells.get("client-identifier") or "").strip()
    start_time = (cells.get("start-time") or "").strip()
    if columns.numbers == (NUMBERS_COLUMN,):
        numbers = [n.strip() for n in (cells.get(NUMBERS_COLUMN) or "").split(";")]
    else:
        numbers = [(cells.get(name) or "").strip() for name in columns.numbers]
    numbers = [n for n in numbers if n]

    def rejected(code: int, message: str) -> Row:
        return Row(line, client_identifier, error_code=code, error_message=message)

    if not client_identifier:
        return rejected(INVALID_MANDATORY_PARAMETERS, "client-identifier is empty")
    if len(client_identifier) > MAX_CLIENT_IDENTIFIER:
        return rejected(INVALID_FORMAT, "client-identifier is longer than 128 characters")
    if not start_time:
        return rejected(INVALID_MANDATORY_PARAMETERS, "start-time is empty")
    try:
        datetime.fromisoformat(start_time)
    except ValueError:
        return rejected(
            INVALID_FORMAT, f"start-time {start_time!r} is not ISO-8601 (2026-12-01T10:30:00+05:30)"
        )
    if not numbers:
        return rejected(INVALID_MANDATORY_PARAMETERS, "no contact number")
    if len(numbers) > MAX_NUMBERS:
        return rejected(INVALID_FORMAT, f"{len(numbers)} contact numbers (at most 10)")
    for number in numbers:
        if not _NUMBER.match(_SEPARATORS.sub("", number)):
            return rejected(
                INVALID_CONTACT_NUMBER, f"contact number {number!r} is not a phone number"
            )
    call: dict[str, Any] = {
        "client-identifier": client_identifier,
        "start-time": start_time,
        "contact-numbers": [_SEPARATORS.sub("", number) for number in numbers],
    }
    keys = [
        {"name": f"$flow.key.{name[len(KEY_PREFIX) :]}", "value": cells[name]}
        for name in columns.keys
        if cells.get(name)
    ]
    if keys:
        call["keys"] = keys
    return Row(line, client_identifier, call=call)


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def batches(
    rows: Sequence[Row],
    *,
    content: bytes,
    flow_id: str,
    security_id: str,
    api_version: str = "1.0",
    size: int = BATCH_SIZE,
) -> Iterator[Batch]:
    """The valid ``rows`` in file order, ``size`` at a time, each as the bytes of its request.

    ``Idempotency-Key`` is the file's SHA-256 and the batch's index: the same file sends the
    same keys with the same bodies, however often it is run.
    """
    valid = [row for row in rows if row.call is not None]
    digest = file_digest(content)
    for index, start in enumerate(range(0, len(valid), size)):
        chunk = tuple(valid[start : start + size])
        body = {
            "api-version": api_version,
            "security-id": security_id,
            "flow-id": flow_id,
            "calls": [row.call for row in chunk],
        }
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        yield Batch(index, chunk, encoded, f"outdial-csv-{digest}-{index}")


def batch_results(batch: Batch, status: int, answer: dict[str, Any] | None) -> list[Result]:
    """Each row's result from the API's answer to its batch.

    The answer's ``call-details`` (one per call, in request order) decide each row; an answer
    without them (the whole request was refused, or never answered) gives every row its code.
    """
    answer = answer or {}
    details = answer.get("call-details")
    if isinstance(details, list) and len(details) == len(batch.rows):
        return [
            _detail_result(row, detail) for row, detail in zip(batch.rows, details, strict=True)
        ]
    code = answer.get("api-response-code") or status
    message = _message(answer.get("api-response-message"), answer.get("error-detail"))
    return [
        Result(row.client_identifier, error_code=code, error_message=message) for row in batch.rows
    ]


def _detail_result(row: Row, detail: Any) -> Result:
    detail = detail if isinstance(detail, dict) else {}
    uuid = detail.get("phonon-uuid")
    if uuid:
        return Result(row.client_identifier, phonon_uuid=str(uuid))
    return Result(
        row.client_identifier,
        error_code=detail.get("error-code") or INVALID_FORMAT,
        error_message=_message(detail.get("error-message"), detail.get("error-detail")),
    )


def _message(message: Any, detail: Any) -> str:
    parts = [str(part) for part in (message, detail) if part]
    return ": ".join(parts) or "no answer"


def local_result(row: Row) -> Result:
    return Result(
        row.client_identifier,
        error_code=row.error_code or "",
        error_message=f"line {row.line}: {row.error_message}",
    )


def write_results(path: Path, results: Iterable[Result]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(RESULT_COLUMNS)
        writer.writerows(result.as_csv() for result in results)


def default_results_path(source: Path) -> Path:
    """``calls.csv`` → ``calls.results.csv``."""
    stem = source.name[: -len(".csv")] if source.name.lower().endswith(".csv") else source.name
    return source.with_name(f"{stem}.results.csv")
