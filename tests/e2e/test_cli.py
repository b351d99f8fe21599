"""The `outdial` command as a user runs it: --version, config schema, the example configuration
served, the docs page, and bulk calling from a CSV against a real `outdial serve`."""

from __future__ import annotations

import csv
import json
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from tests.e2e.conftest import (
    ROOT,
    Served,
    cli_environment,
    embedded_client,
    outdial,
    start_serve,
    stop_serve,
)
from tests.e2e.gate import Gate

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "config.json"
EXAMPLE_CONFIG = json.loads(EXAMPLE.read_text())
FLOW = EXAMPLE_CONFIG["flows"][0]
FLOW_ID, SECURITY_ID = FLOW["flow-id"], FLOW["security-id"]

# `outdial` as a terminal runs it, where Ctrl-C interrupts: a test run started in the background
# by a shell without job control inherits SIGINT ignored, and so would the command.
AT_A_TERMINAL = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'outdial'; runpy.run_module('outdial.cli', run_name='__main__')",
]


def fetch(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


@pytest.fixture(scope="module")
def example() -> Iterator[Served]:
    running = start_serve("--config", str(EXAMPLE))
    yield running
    stop_serve(running)


def test_version_prints_the_version_and_exits_0() -> None:
    result = outdial("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"outdial \d+\.\d+\.\d+\S*\n", result.stdout)


def test_config_schema_describes_the_example_and_refuses_a_bad_file() -> None:
    # When the schema is printed
    result = outdial("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    # Then the example configuration conforms to it, and a misspelt key does not
    jsonschema.validate(EXAMPLE_CONFIG, schema)
    wrong = json.loads(EXAMPLE.read_text())
    wrong["flows"][0]["max-atempts"] = 2
    with pytest.raises(jsonschema.ValidationError, match="max-atempts"):
        jsonschema.validate(wrong, schema)


def test_the_example_configuration_is_served(example: Served) -> None:
    # Given `outdial serve --config examples/config.json`
    assert "demo-flow-id" not in example.banner
    # When its flow is asked to place a call
    call = {
        "client-identifier": "example-1",
        "start-time": datetime.now(UTC).isoformat(),
        "contact-numbers": ["+919812345670"],
        "keys": [{"name": "$flow.key.name", "value": "Asha"}],
    }
    body = {"api-version": "1.0", "security-id": SECURITY_ID, "flow-id": FLOW_ID, "calls": [call]}
    request = urllib.request.Request(
        f"{example.url}/outbound/create", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    # Then the call is accepted
    assert answer["api-response-code"] == 200, answer
    assert answer["call-details"][0]["phonon-uuid"]


def test_docs_page_loads_the_openapi_document(example: Served) -> None:
    # When a browser opens /docs
    status, content_type, page = fetch(f"{example.url}/docs")
    assert status == 200 and content_type.startswith("text/html")
    # Then it is Swagger UI, bundled (no CDN to reach), pointed at the document beside it
    assert "SwaggerUIBundle(" in page and "<script src=" not in page
    (relative,) = re.findall(r'url: new URL\("([^"]+)", window\.location\.href\)', page)
    status, content_type, text = fetch(urllib.parse.urljoin(f"{example.url}/docs", relative))
    document = json.loads(text)
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": example.url, "description": "this deployment"}]
    create = document["paths"]["/outbound/create"]["post"]
    assert {"200", "400", "401", "409"} <= set(create["responses"])
    assert document["components"]["securitySchemes"]["flowId"]["name"] == "x-flow-id"


# --- calls submit / status ----------------------------------------------------------------------

ROWS = 2_000
BAD_LOCALLY = {7, 500, 1_234}  # no contact number, not a number, start-time not a date
BAD_ON_THE_SERVER = {42, 1_999}  # a number the API refuses (not a number of the region)


def write_calls(path: Path) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["client-identifier", "start-time", "contact-number-1", "contact-number-2", "key.name"]
        )
        for n in range(ROWS):
            first = f"98{n:08d}"
            row = [f"row-{n}", start, first, "+919812345671", f"name {n}"]
            if n == 7:
                row[2] = row[3] = ""
            elif n == 500:
                row[2] = "call me"
            elif n == 1_234:
                row[1] = "next tuesday"
            elif n in BAD_ON_THE_SERVER:
                row[2] = "1234567"
            writer.writerow(row)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


def calls_in_store(example: Served, prefix: str) -> list[str]:
    """The client-identifiers of every call the embedded AWS holds whose client-identifier starts
    with ``prefix``, once per call (so a call made twice shows twice)."""
    dynamodb = embedded_client(example, "dynamodb")
    found: list[str] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName="outdial-calls",
        FilterExpression="begins_with(pk, :call) AND begins_with(#c, :prefix)",
        ExpressionAttributeValues={":call": {"S": "CALL#"}, ":prefix": {"S": prefix}},
        ProjectionExpression="#c",
        ExpressionAttributeNames={"#c": "client-identifier"},
    ):
        found += [item["client-identifier"]["S"] for item in page["Items"]]
    return found


def submit(example: Served, csv_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return outdial(
        "calls", "submit", str(csv_path), "--flow", FLOW_ID, "--url", example.url, *extra,
        env={"OUTDIAL_SECURITY_ID": SECURITY_ID}, timeout=600,
    )  # fmt: skip


def test_submit_2000_rows_then_pull_their_statuses(example: Served, tmp_path: Path) -> None:
    # Given a 2,000-row CSV with three rows bad on their face and two the API will refuse
    source = tmp_path / "campaign.csv"
    write_calls(source)

    # When it is submitted
    result = submit(example, source)

    # Then some rows were rejected: exit 1, each bad row named with its line (row n is line n+2)
    assert result.returncode == 1, result.stderr
    for n in sorted(BAD_LOCALLY):
        assert f"line {n + 2}:" in result.stderr
    assert "2000 rows: 1995 accepted, 5 rejected" in result.stderr
    # And the results file has one row per input row, in order, with an id or an error
    results = read_csv(tmp_path / "campaign.results.csv")
    assert list(results[0]) == ["client-identifier", "phonon-uuid", "error-code", "error-message"]
    assert [r["client-identifier"] for r in results] == [f"row-{n}" for n in range(ROWS)]
    rejected = {n: r for n, r in enumerate(results) if not r["phonon-uuid"]}
    assert set(rejected) == BAD_LOCALLY | BAD_ON_THE_SERVER
    assert {rejected[n]["error-code"] for n in BAD_LOCALLY} == {"210", "205", "400"}
    assert {rejected[n]["error-code"] for n in BAD_ON_THE_SERVER} == {"205"}
    uuids = [r["phonon-uuid"] for r in results if r["phonon-uuid"]]
    assert len(set(uuids)) == 1_995
    # And exactly those calls exist, once each
    assert sorted(calls_in_store(example, "row-")) == sorted(
        r["client-identifier"] for r in results if r["phonon-uuid"]
    )

    # When their statuses are pulled
    status = outdial(
        "calls", "status", str(tmp_path / "campaign.results.csv"), "--flow", FLOW_ID,
        "--url", example.url, env={"OUTDIAL_SECURITY_ID": SECURITY_ID}, timeout=600,
    )  # fmt: skip
    # Then every accepted call is there, waiting for tomorrow
    assert status.returncode == 0, status.stderr
    rows = read_csv(tmp_path / "campaign.status.csv")
    assert len(rows) == ROWS
    by_uuid = {r["phonon-uuid"]: r for r in rows if r["phonon-uuid"]}
    assert set(by_uuid) == set(uuids)
    assert {r["status"] for r in by_uuid.values()} == {"SCHEDULED"}
    assert {r["status"] for r in rows if not r["phonon-uuid"]} == {"REJECTED"}


def test_an_interrupted_submit_run_again_creates_no_call_twice(
    example: Served, tmp_path: Path
) -> None:
    # Given a 2,000-row CSV (five bad rows) sent one batch at a time
    source = tmp_path / "interrupted.csv"
    write_calls(source)
    source.write_text(source.read_text().replace("row-", "again-"))
    with Gate(example.url, passes=1) as gate:
        process = subprocess.Popen(
            [*AT_A_TERMINAL, "calls", "submit", str(source),
             "--flow", FLOW_ID, "--url", gate.url, "--concurrency", "1"],
            cwd=ROOT,
            env=cli_environment(env={"OUTDIAL_SECURITY_ID": SECURITY_ID}),
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        # When it is interrupted (Ctrl-C) once the first batch is answered, the second in flight
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("batch 1 of 4"):
                assert gate.holding.wait(timeout=60)
                process.send_signal(signal.SIGINT)
                break
        gate.open()  # the batch in flight gets its answer; the command has stopped listening
        rest = process.stderr.read()
        assert process.wait(timeout=300) == 130, rest
    assert "Run the same command again" in rest
    partial = read_csv(tmp_path / "interrupted.results.csv")
    first_ids = {r["client-identifier"]: r["phonon-uuid"] for r in partial if r["phonon-uuid"]}
    assert len(first_ids) >= 499

    # And run again to the end
    again = submit(example, source)

    # Then every row has its call, the first batch's calls kept their ids, none was made twice
    assert again.returncode == 1 and "1995 accepted, 5 rejected" in again.stderr, again.stderr
    results = read_csv(tmp_path / "interrupted.results.csv")
    ids = {r["client-identifier"]: r["phonon-uuid"] for r in results if r["phonon-uuid"]}
    assert len(ids) == 1_995 and len(set(ids.values())) == 1_995
    assert all(ids[key] == value for key, value in first_ids.items())
    assert sorted(calls_in_store(example, "again-")) == sorted(ids)


def test_submit_refuses_without_the_security_id_and_names_the_variable(
    example: Served, tmp_path: Path
) -> None:
    source = tmp_path / "c.csv"
    source.write_text("client-identifier,start-time,contact-numbers\na,2026-12-01,9812345670\n")
    result = outdial("calls", "submit", str(source), "--flow", FLOW_ID, "--url", example.url)
    assert result.returncode == 2
    assert "OUTDIAL_SECURITY_ID" in result.stderr
    assert not (tmp_path / "c.results.csv").exists()


def test_a_wrong_security_id_stops_the_run_with_one_readable_line(
    example: Served, tmp_path: Path
) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "client-identifier,start-time,contact-numbers,key.name\n"
        f"a,{datetime.now(UTC).isoformat()},9812345670,x\n"
    )
    result = outdial(
        "calls", "submit", str(source), "--flow", FLOW_ID, "--url", example.url,
        env={"OUTDIAL_SECURITY_ID": "W" * 64},
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("outdial: error:")]
    assert "202" in line and "OUTDIAL_SECURITY_ID" in line
    (row,) = read_csv(tmp_path / "c.results.csv")
    assert row["error-code"] == "202" and not row["phonon-uuid"]


def test_serve_on_a_port_in_use_says_so_in_one_line() -> None:
    # Given a port something else holds
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # When outdial serve is asked for it
        result = outdial("serve", "--port", str(port))
    # Then it stops with one line naming the port and what to do
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"outdial: error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "PORT=" in result.stderr
