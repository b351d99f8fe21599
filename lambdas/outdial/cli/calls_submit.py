"""``outdial calls submit FILE.csv``: send a spreadsheet's calls through the public API in
500-call batches, a few at a time, and write each row's phonon-uuid or error (SPEC §13)."""

from __future__ import annotations

import argparse
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from outdial.cli.api_client import Answer, ApiClient, Unreachable
from outdial.cli.calls_csv import (
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
from outdial.cli.flow_access import FATAL_CODES, credentials, fatal_hint, message_of
from outdial.cli.progress import Progress, note, showing_progress

SHOWN_PROBLEMS = 20


def run_submit(args: argparse.Namespace) -> int:
    security_id = credentials(args.flow)
    if not 1 <= args.concurrency <= 16:
        raise UsageError("--concurrency must be between 1 and 16")
    client = ApiClient(args.url, on_retry=lambda reason: note(f"retrying: {reason}"))
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
        with showing_progress(len(parsed.rows), "calls", initial=len(parsed.invalid)) as progress:
            progress.rejected += len(parsed.invalid)
            fatal = _send(client, todo, args.concurrency, results, progress)
    except KeyboardInterrupt:
        _finish_unsent(parsed, results, "not known: interrupted before the answer came")
        write_results(output, (results[row.line] for row in parsed.rows))
        note(
            f"interrupted; partial results in {output}. Run the same command again: "
            "batches already accepted are answered with their original phonon-uuids"
        )
        return 130
    if fatal is not None:
        body = fatal.body or {}
        refusal = message_of(body)
        _finish_unsent(parsed, results, f"not sent: {refusal}", code=fatal.code or "")
        write_results(output, (results[row.line] for row in parsed.rows))
        raise CliError(
            f"the API refused a batch with {fatal.code} {refusal}; nothing more was sent "
            f"(results in {output})",
            fatal_hint(fatal.code),
        )
    write_results(output, (results[row.line] for row in parsed.rows))
    accepted = sum(result.accepted for result in results.values())
    rejected = len(parsed.rows) - accepted
    note(f"{len(parsed.rows)} rows: {accepted} accepted, {rejected} rejected; results in {output}")
    return 0 if rejected == 0 else 1


def _send(
    client: ApiClient,
    todo: list[Batch],
    concurrency: int,
    results: dict[int, Result],
    progress: Progress,
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
        note(f"batch {batch.index + 1}: gave up: {exc}")
        return None


def _results_of(batch: Batch, answer: Answer | None) -> list[Result]:
    if answer is None:
        message = "not known: no answer from the API; run the same command again"
        return [Result(row.client_identifier, error_message=message) for row in batch.rows]
    return batch_results(batch, answer.status, answer.body)


def _finish_unsent(
    parsed: ParsedFile, results: dict[int, Result], message: str, code: int | str = ""
) -> None:
    for row in parsed.rows:
        results.setdefault(
            row.line, Result(row.client_identifier, error_code=code, error_message=message)
        )


def _report_local_problems(parsed: ParsedFile) -> None:
    if parsed.ignored_columns:
        note(f"ignoring column(s) {', '.join(parsed.ignored_columns)}")
    invalid = parsed.invalid
    for row in invalid[:SHOWN_PROBLEMS]:
        note(f"line {row.line}: {row.error_code} {row.error_message} (not sent)")
    if len(invalid) > SHOWN_PROBLEMS:
        note(f"... and {len(invalid) - SHOWN_PROBLEMS} more rows not sent (see the results file)")
