"""``outdial calls submit FILE.csv`` and ``outdial calls status RESULTS.csv``: bulk calling from
a spreadsheet through the public API (SPEC §13).

The flow's security-id comes from ``$OUTDIAL_SECURITY_ID``, never from a flag (flags end up in
shell histories and process lists).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from outdial.cli.api_client import Answer, ApiClient, Unreachable
from outdial.cli.calls_csv import (
    BATCH_SIZE,
    Batch,
    ParsedFile,
    Result,
    batch_results,
    batches,
    default_results_path,
    local_result,
    parse_calls,
    read_text,
    write_results,
)
from outdial.cli.errors import CliError, UsageError
from outdial.models.types import FLOW_ID_PATTERN

SECURITY_ID_ENV = "OUTDIAL_SECURITY_ID"
# Request-level answers that every later batch would get too: stop sending.
FATAL_CODES = frozenset({202, 203, 204, 207, 208, 211, 301, 304, 401, 603})
STATUS_COLUMNS = (
    "client-identifier",
    "phonon-uuid",
    "status",
    "connected-number",
    "duration-seconds",
    "attempt",
    "start-time",
    "next-dial-at",
    "error-code",
    "error-message",
)
SHOWN_PROBLEMS = 20


def register(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    calls = commands.add_parser("calls", help="submit calls from a CSV file; pull their statuses")
    actions = calls.add_subparsers(dest="calls_command", required=True, metavar="ACTION")

    submit = actions.add_parser(
        "submit",
        help="send a CSV of calls in 500-call batches; write each row's phonon-uuid or error",
        description="Columns: client-identifier, start-time, contact-number-1 ... "
        "contact-number-10 (or contact-numbers separated by ';'), key.<var>. The flow's "
        f"security-id is read from ${SECURITY_ID_ENV}. Exit 0: every row accepted; 1: some "
        "rejected; 2: usage error.",
    )
    submit.add_argument("file", type=Path, metavar="FILE.csv")
    _target(submit)
    submit.add_argument(
        "--output", type=Path, metavar="RESULTS.csv", help="default: FILE.results.csv"
    )
    submit.add_argument("--api-version", default="1.0", choices=("1.0", "TEST"), help="default 1.0")
    submit.add_argument(
        "--concurrency", type=int, default=4, help="batches in flight at once (1-16, default 4)"
    )
    submit.set_defaults(run=run_submit, uses_aws=False)

    status = actions.add_parser(
        "status", help="pull the statuses of a results file's calls, 500 at a time"
    )
    status.add_argument("results", type=Path, metavar="RESULTS.csv")
    _target(status)
    status.add_argument("--output", type=Path, metavar="FILE", help="default: <name>.status.csv")
    status.set_defaults(run=run_status, uses_aws=False)
    for parser in (submit, status):
        common(parser)


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flow", required=True, metavar="FLOW", help="the flow-id")
    parser.add_argument(
        "--url", required=True, metavar="BASE_URL", help="the API's base URL (ApiUrl)"
    )


def _credentials(flow: str) -> str:
    if not re.match(FLOW_ID_PATTERN, flow):
        raise UsageError(f"--flow {flow!r} is not a flow-id (8 letters or digits)")
    security_id = os.environ.get(SECURITY_ID_ENV, "").strip()
    if not security_id:
        raise UsageError(f"set {SECURITY_ID_ENV} to the flow's security-id")
    return security_id


# --- submit -------------------------------------------------------------------------------------


def run_submit(args: argparse.Namespace) -> int:
    security_id = _credentials(args.flow)
    if not 1 <= args.concurrency <= 16:
        raise UsageError("--concurrency must be between 1 and 16")
    client = ApiClient(args.url, on_retry=lambda reason: _note(f"retrying: {reason}"))
    content, text = read_text(args.file)
    parsed = parse_calls(text)
    output = args.output or default_results_path(args.file)
    _report_local_problems(parsed)
    results: dict[int, Result] = {row.line: local_result(row) for row in parsed.invalid}
    todo = list(
        batches(
            parsed.rows,
            content=content,
            flow_id=args.flow,
            security_id=security_id,
            api_version=args.api_version,
        )
    )
    try:
        with _progress(len(parsed.rows), "calls", initial=len(parsed.invalid)) as progress:
            progress.rejected += len(parsed.invalid)
            fatal = _send(client, todo, args.concurrency, results, progress)
    except KeyboardInterrupt:
        _finish_unsent(parsed, results, "not known: interrupted before the answer came")
        write_results(output, (results[row.line] for row in parsed.rows))
        _note(
            f"interrupted; partial results in {output}. Run the same command again: "
            "batches already accepted are answered with their original phonon-uuids"
        )
        return 130
    if fatal is not None:
        body = fatal.body or {}
        refusal = _message_of(body)
        _finish_unsent(parsed, results, f"not sent: {refusal}", code=fatal.code or "")
        write_results(output, (results[row.line] for row in parsed.rows))
        raise CliError(
            f"the API refused a batch with {fatal.code} {refusal}; nothing more was sent "
            f"(results in {output})",
            _fatal_hint(fatal.code),
        )
    write_results(output, (results[row.line] for row in parsed.rows))
    accepted = sum(result.accepted for result in results.values())
    rejected = len(parsed.rows) - accepted
    _note(f"{len(parsed.rows)} rows: {accepted} accepted, {rejected} rejected; results in {output}")
    return 0 if rejected == 0 else 1


def _send(
    client: ApiClient,
    todo: list[Batch],
    concurrency: int,
    results: dict[int, Result],
    progress: _Progress,
) -> Answer | None:
    """Send every batch, ``concurrency`` at a time, and record each row's result as answers
    come; stop sending at an answer every later batch would get too, and return it."""
    fatal: Answer | None = None
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch")
    pending: dict[Future[Answer | None], Batch] = {}
    queue = iter(todo)
    try:
        while True:
            while fatal is None and len(pending) < concurrency:
                batch = next(queue, None)
                if batch is None:
                    break
                pending[pool.submit(_post_batch, client, batch)] = batch
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                batch = pending.pop(future)
                answer = future.result()
                for row, result in zip(batch.rows, _results_of(batch, answer), strict=True):
                    results[row.line] = result
                progress.batch_done(batch, results, len(todo))
                if answer is not None and answer.code in FATAL_CODES and fatal is None:
                    fatal = answer
    except KeyboardInterrupt:
        # Leave at once: a batch in flight is answered to a re-run (same key, same bytes).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return fatal


def _post_batch(client: ApiClient, batch: Batch) -> Answer | None:
    try:
        return client.post(
            "/outbound/create", batch.body, {"Idempotency-Key": batch.idempotency_key}
        )
    except Unreachable as exc:
        _note(f"batch {batch.index + 1}: gave up: {exc}")
        return None


def _results_of(batch: Batch, answer: Answer | None) -> list[Result]:
    if answer is None:
        message = "not known: no answer from the API; run the same command again"
        return [Result(row.client_identifier, error_message=message) for row in batch.rows]
    return batch_results(batch, answer.status, answer.body)


def _fatal_hint(code: int | None) -> str:
    return {
        202: f"check {SECURITY_ID_ENV}: it is the flow's security-id",
        301: "check --flow and --url: this API has no such flow",
        401: "this machine's public IP is not in the account's ip-whitelist",
        211: "the account or flow is past its valid-until",
        304: "the flow is not published for this --api-version",
    }.get(code or 0, "see the message; nothing more was sent")


def _finish_unsent(
    parsed: ParsedFile, results: dict[int, Result], message: str, code: int | str = ""
) -> None:
    for row in parsed.rows:
        results.setdefault(
            row.line, Result(row.client_identifier, error_code=code, error_message=message)
        )


def _message_of(body: dict[str, Any]) -> str:
    parts = [str(body.get(k)) for k in ("api-response-message", "error-detail") if body.get(k)]
    return ": ".join(parts) or "no message"


def _report_local_problems(parsed: ParsedFile) -> None:
    if parsed.ignored_columns:
        _note(f"ignoring column(s) {', '.join(parsed.ignored_columns)}")
    invalid = parsed.invalid
    for row in invalid[:SHOWN_PROBLEMS]:
        _note(f"line {row.line}: {row.error_code} {row.error_message} (not sent)")
    if len(invalid) > SHOWN_PROBLEMS:
        _note(f"... and {len(invalid) - SHOWN_PROBLEMS} more rows not sent (see the results file)")


# --- status -------------------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    security_id = _credentials(args.flow)
    client = ApiClient(args.url, on_retry=lambda reason: _note(f"retrying: {reason}"))
    rows = _read_results(args.results)
    output = args.output or _default_status_path(args.results)
    uuids = [row["phonon-uuid"] for row in rows if row.get("phonon-uuid")]
    found: dict[str, dict[str, Any]] = {}
    with _progress(len(uuids), "calls") as progress:
        for start in range(0, len(uuids), BATCH_SIZE):
            chunk = uuids[start : start + BATCH_SIZE]
            found.update(_pull(client, args.flow, security_id, chunk))
            progress.advance(len(chunk))
    with output.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(STATUS_COLUMNS)
        writer.writerows(_status_row(row, found) for row in rows)
    unknown = sum(1 for uuid in uuids if uuid not in found)
    counts: dict[str, int] = {}
    for call in found.values():
        counts[call.get("status", "?")] = counts.get(call.get("status", "?"), 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    _note(f"{len(uuids)} calls: {summary or 'none found'}; statuses in {output}")
    if unknown:
        _note(f"{unknown} phonon-uuids unknown to flow {args.flow} (213)")
    return 0 if unknown == 0 else 1


def _read_results(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as source:
            reader = csv.DictReader(source)
            if not {"client-identifier", "phonon-uuid"} <= set(reader.fieldnames or ()):
                raise UsageError(
                    f"{path} has no client-identifier and phonon-uuid columns: give the results "
                    "file of `outdial calls submit`"
                )
            return list(reader)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _default_status_path(results: Path) -> Path:
    name = results.name
    for suffix in (".results.csv", ".csv"):
        if name.lower().endswith(suffix):
            return results.with_name(f"{name[: -len(suffix)]}.status.csv")
    return results.with_name(f"{name}.status.csv")


def _pull(
    client: ApiClient, flow: str, security_id: str, uuids: list[str]
) -> dict[str, dict[str, Any]]:
    body = json.dumps(
        {
            "security-id": security_id,
            "flow-id": flow,
            "phonon-uuids": uuids,
            "fetch-attempt": "LAST",
        }
    ).encode()
    try:
        answer = client.post("/outbound/pull", body)
    except Unreachable as exc:
        raise CliError(f"no answer from {client.base}: {exc}", "is --url right?") from exc
    if answer.code == 213:
        return {}
    if answer.code != 200:
        message = _message_of(answer.body or {}) if answer.body else f"HTTP {answer.status}"
        raise CliError(
            f"the API refused the pull: {answer.code} {message}", _fatal_hint(answer.code)
        )
    data = (answer.body or {}).get("data") or []
    return {call["phonon-uuid"]: call for call in data if isinstance(call, dict)}


def _status_row(row: dict[str, str], found: dict[str, dict[str, Any]]) -> list[Any]:
    uuid = row.get("phonon-uuid") or ""
    call: dict[str, Any]
    if not uuid:
        status, call = "REJECTED", {}
        error = (row.get("error-code", ""), row.get("error-message", ""))
    elif uuid not in found:
        status, call, error = "UNKNOWN", {}, ("213", "No Data Available")
    else:
        call = found[uuid]
        status = call.get("status", "")
        error = (call.get("error-code", ""), call.get("error-message", ""))
    attempts = call.get("attempts") or []
    return [
        row.get("client-identifier", ""),
        uuid,
        status,
        call.get("connected-number") or "",
        "" if call.get("duration-seconds") is None else call["duration-seconds"],
        attempts[-1].get("attempt", "") if attempts else "",
        call.get("start-time", ""),
        call.get("next-dial-at") or "",
        *error,
    ]


# --- progress -----------------------------------------------------------------------------------


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Progress:
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
            _note(
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
def _progress(total: int, unit: str, initial: int = 0) -> Iterator[_Progress]:
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ModuleNotFoundError:  # installed without the local extra: no bar
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=total, initial=initial, unit=unit, file=sys.stderr, dynamic_ncols=True)
    try:
        yield _Progress(bar)
    finally:
        if bar is not None:
            bar.close()
