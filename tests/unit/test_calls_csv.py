"""`outdial calls submit`'s CSV: columns, local checks with line numbers, byte-stable batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outdial.cli.calls_csv import (
    Batch,
    batch_results,
    batches,
    default_results_path,
    parse_calls,
    read_text,
)
from outdial.cli.errors import UsageError

HEADER = "client-identifier,start-time,contact-number-1,contact-number-2,key.name\n"


def test_rows_become_calls_with_numbers_in_order_and_keys() -> None:
    # Given numbered columns and a key column
    parsed = parse_calls(
        HEADER + "order-1,2026-12-01T10:30:00+05:30,+919812345670,98123 45671,Asha\n"
    )
    # Then the row is a call as the API takes it
    (row,) = parsed.rows
    assert row.line == 2
    assert row.call == {
        "client-identifier": "order-1",
        "start-time": "2026-12-01T10:30:00+05:30",
        "contact-numbers": ["+919812345670", "9812345671"],
        "keys": [{"name": "$flow.key.name", "value": "Asha"}],
    }


def test_contact_numbers_column_splits_on_semicolons_and_empty_keys_are_left_out() -> None:
    parsed = parse_calls(
        "client-identifier,start-time,contact-numbers,key.name\n"
        "a,2026-12-01T10:30:00Z,9812345670; 9812345671;,\n"
    )
    assert parsed.rows[0].call == {
        "client-identifier": "a",
        "start-time": "2026-12-01T10:30:00Z",
        "contact-numbers": ["9812345670", "9812345671"],
    }


def test_bad_rows_are_reported_with_their_line_and_the_contracts_code() -> None:
    # Given a file with a blank line and a quoted multi-line cell before the bad rows
    text = (
        HEADER
        + '"multi\nline",2026-12-01T10:30:00Z,9812345670,,\n'  # lines 2-3
        + "\n"  # line 4: blank, skipped
        + ",2026-12-01T10:30:00Z,9812345670,,\n"  # line 5
        + "b,tomorrow,9812345670,,\n"  # line 6
        + "c,2026-12-01T10:30:00Z,,,\n"  # line 7
        + "d,2026-12-01T10:30:00Z,98-12-abc,,\n"  # line 8
        + "e,,9812345670,,\n"  # line 9
        + ("f" * 129)
        + ",2026-12-01T10:30:00Z,9812345670,,\n"  # line 10
    )
    parsed = parse_calls(text)
    # Then each bad row names its physical line and gets the code the API would give it
    assert [(r.line, r.error_code) for r in parsed.invalid] == [
        (5, 210),
        (6, 400),
        (7, 210),
        (8, 205),
        (9, 210),
        (10, 400),
    ]
    assert "tomorrow" in parsed.invalid[1].error_message
    assert [r.line for r in parsed.valid] == [2]


def test_more_than_ten_numbers_is_refused() -> None:
    numbers = ";".join(f"98123456{n:02d}" for n in range(11))
    parsed = parse_calls(f"client-identifier,start-time,contact-numbers\na,2026-12-01,{numbers}\n")
    assert parsed.rows[0].error_code == 400


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("start-time,contact-numbers", r"missing column\(s\): client-identifier"),
        ("client-identifier,start-time", "no number column"),
        ("client-identifier,start-time,contact-numbers,contact-number-1", "not both"),
        ("client-identifier,start-time,contact-numbers,key.first-name", "key column"),
        ("client-identifier,client-identifier,start-time,contact-numbers", "named twice"),
    ],
)
def test_a_bad_header_is_a_usage_error(header: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_calls(header + "\na,2026-12-01T10:30:00Z,9812345670,x\n")


def test_an_empty_file_and_a_header_alone_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="empty"):
        parse_calls("")
    with pytest.raises(UsageError, match="no rows"):
        parse_calls("client-identifier,start-time,contact-numbers\n")


def test_unknown_columns_are_ignored_and_named() -> None:
    parsed = parse_calls("client-identifier,notes,start-time,contact-numbers\na,x,2026-12-01,981\n")
    assert parsed.ignored_columns == ["notes"]


def test_a_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_bytes(b"client-identifier\n\xff\xfe")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_text(path)


def _file(rows: int, bad_every: int = 0) -> str:
    lines = [HEADER.strip()]
    for n in range(rows):
        number = "not-a-number" if bad_every and n % bad_every == 0 else f"98{n:08d}"
        lines.append(f"c-{n},2026-12-01T10:30:00+05:30,{number},,")
    return "\n".join(lines) + "\n"


def test_batches_hold_500_valid_rows_and_are_the_same_bytes_every_run() -> None:
    # Given 1,201 rows, every 100th bad
    text = _file(1201, bad_every=100)
    content = text.encode()
    parsed = parse_calls(text)

    def cut() -> list[Batch]:
        return list(batches(parsed.rows, content=content, flow_id="AB12cd34", security_id="s"))

    first, second = cut(), cut()
    # Then the 1,188 valid rows go in 500, 500 and 188, in file order
    assert [len(b.rows) for b in first] == [500, 500, 188]
    assert first[0].rows[0].client_identifier == "c-1"
    # And a second run sends the very same bodies under the very same keys
    assert [(b.body, b.idempotency_key) for b in first] == [
        (b.body, b.idempotency_key) for b in second
    ]
    assert len({b.idempotency_key for b in first}) == 3
    body = json.loads(first[2].body)
    assert body["flow-id"] == "AB12cd34" and body["api-version"] == "1.0"
    assert len(body["calls"]) == 188


def test_another_file_gets_other_keys() -> None:
    a, b = _file(3), _file(4)
    (batch_a,) = batches(parse_calls(a).rows, content=a.encode(), flow_id="F", security_id="s")
    (batch_b,) = batches(parse_calls(b).rows, content=b.encode(), flow_id="F", security_id="s")
    assert batch_a.idempotency_key != batch_b.idempotency_key
    assert len(batch_a.idempotency_key) <= 255 and batch_a.idempotency_key.isascii()


def _one_batch(rows: int) -> Batch:
    text = _file(rows)
    return next(
        batches(parse_calls(text).rows, content=text.encode(), flow_id="F", security_id="s")
    )


def test_call_details_decide_each_rows_result() -> None:
    batch = _one_batch(2)
    answer = {
        "api-response-code": 209,
        "call-details": [
            {"client-identifier": "c-0", "phonon-uuid": "u-0"},
            {
                "client-identifier": "c-1",
                "error-code": 205,
                "error-message": "Invalid Contact Number",
                "error-detail": "not a number of IN",
            },
        ],
    }
    results = batch_results(batch, 200, answer)
    assert [r.as_csv() for r in results] == [
        ["c-0", "u-0", "", ""],
        ["c-1", "", "205", "Invalid Contact Number: not a number of IN"],
    ]


def test_a_refused_request_gives_every_row_its_code() -> None:
    batch = _one_batch(2)
    results = batch_results(
        batch, 402, {"api-response-code": 212, "api-response-message": "Insufficient Balance"}
    )
    assert {(r.error_code, r.error_message) for r in results} == {(212, "Insufficient Balance")}


def test_results_file_is_named_after_the_input() -> None:
    assert default_results_path(Path("/d/calls.csv")) == Path("/d/calls.results.csv")
    assert default_results_path(Path("list.txt")) == Path("list.txt.results.csv")
