"""``outdial calls status RESULTS.csv``: pull the statuses of a results file's calls, 500 at a
time, into a status file (SPEC §13)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from outdial.cli.api_client import ApiClient, Unreachable
from outdial.cli.calls_csv import BATCH_SIZE
from outdial.cli.errors import CliError, UsageError
from outdial.cli.flow_access import credentials, fatal_hint, message_of
from outdial.cli.progress import note, showing_progress

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


def run_status(args: argparse.Namespace) -> int:
    security_id = credentials(args.flow)
    client = ApiClient(args.url, on_retry=lambda reason: note(f"retrying: {reason}"))
    rows = _read_results(args.results)
    output = args.output or _default_status_path(args.results)
    uuids = [row["phonon-uuid"] for row in rows if row.get("phonon-uuid")]
    found: dict[str, dict[str, Any]] = {}
    with showing_progress(len(uuids), "calls") as progress:
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
    note(f"{len(uuids)} calls: {summary or 'none found'}; statuses in {output}")
    if unknown:
        note(f"{unknown} phonon-uuids unknown to flow {args.flow} (213)")
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
        message = message_of(answer.body or {}) if answer.body else f"HTTP {answer.status}"
        raise CliError(
            f"the API refused the pull: {answer.code} {message}", fatal_hint(answer.code)
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
