"""The command line's HTTP client and `calls submit` against a scripted peer on 127.0.0.1:
what is retried (429, 5xx, lost connections, 607), with what waits, and what is not."""

from __future__ import annotations

import argparse
import csv
import functools
from pathlib import Path

import pytest

from outdial.cli import calls_submit
from outdial.cli.api_client import ApiClient, Unreachable
from tests.fakes.http_peer import HttpPeer, Reply

THROTTLED = Reply.json(429, {"api-response-code": 608, "api-response-message": "Too Many Requests"})
BUSY_KEY = Reply.json(
    409, {"api-response-code": 607, "api-response-message": "Idempotency Key In Use"}
)
REPEAT = Reply.json(
    409,
    {
        "api-response-code": 201,
        "api-response-message": "Checksum Repeated",
        "call-details": [{"client-identifier": "a", "phonon-uuid": "u-1"}],
    },
)


def client(peer: HttpPeer, waits: list[float], attempts: int = 4) -> ApiClient:
    return ApiClient(peer.url, attempts=attempts, sleep=waits.append, backoff_seconds=0.5)


def test_throttling_faults_and_lost_connections_are_retried_with_growing_waits() -> None:
    with HttpPeer() as peer:
        # Given a peer that throttles, fails, drops the connection, then answers
        peer.enqueue(THROTTLED, Reply(502, b"Bad Gateway"), Reply.drop(), Reply.json(200, {"x": 1}))
        waits: list[float] = []
        # When a body is posted
        answer = client(peer, waits).post("/outbound/create", b"{}", {"Idempotency-Key": "k-0"})
        # Then it got through on the fourth request, the same body and key each time
        assert answer.status == 200 and answer.body == {"x": 1}
        sent = peer.requests
        assert len(sent) == 4
        assert {(r.body, r.header("Idempotency-Key")) for r in sent} == {(b"{}", "k-0")}
    # And the waits grew (0.5 s, 1 s, 2 s, less up to half of each for jitter)
    assert len(waits) == 3
    for wait, ceiling in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_retry_after_is_honoured() -> None:
    with HttpPeer() as peer:
        peer.enqueue(Reply.json(429, {}, headers={"Retry-After": "7"}), Reply.json(200, {}))
        waits: list[float] = []
        client(peer, waits).post("/x", b"{}")
    assert waits == [7.0]


def test_a_key_still_in_use_is_asked_again_a_refusal_is_not() -> None:
    with HttpPeer() as peer:
        peer.enqueue(BUSY_KEY, REPEAT)
        waits: list[float] = []
        answer = client(peer, waits).post("/x", b"{}")
        assert answer.code == 201 and len(waits) == 1
        # A definite answer (bad security-id) is returned at once
        peer.enqueue(Reply.json(401, {"api-response-code": 202}))
        waits.clear()
        assert client(peer, waits).post("/x", b"{}").code == 202
        assert waits == []


def test_no_answer_at_all_gives_up_after_the_attempts() -> None:
    with HttpPeer(default=Reply.drop()) as peer:
        waits: list[float] = []
        with pytest.raises(Unreachable, match="no answer"):
            client(peer, waits, attempts=3).post("/x", b"{}")
        assert len(peer.requests) == 3


def submit_one_row(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """``outdial calls submit`` of a one-row file to ``url``, without waiting between retries."""
    source = tmp_path / "c.csv"
    source.write_text("client-identifier,start-time,contact-numbers\na,2026-12-01,9812345670\n")
    monkeypatch.setenv("OUTDIAL_SECURITY_ID", "s" * 64)
    monkeypatch.setattr(
        calls_submit, "ApiClient", functools.partial(ApiClient, sleep=lambda _s: None)
    )
    args = argparse.Namespace(
        file=source, flow="AB12cd34", url=url, output=None, api_version="1.0", concurrency=1
    )
    return calls_submit.run_submit(args)


def only_result(tmp_path: Path) -> dict[str, str]:
    with (tmp_path / "c.results.csv").open() as results:
        (row,) = csv.DictReader(results)
    return row


def test_a_still_throttled_batch_ends_with_the_last_answer_in_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a peer that throttles every request
    with HttpPeer(default=THROTTLED) as peer:
        # When a file is submitted, Then the row is reported rejected with the API's code
        assert submit_one_row(tmp_path, peer.url, monkeypatch) == 1
        assert len(peer.requests) == 8
    row = only_result(tmp_path)
    assert row["error-code"] == "608" and row["error-message"] == "Too Many Requests"


def test_a_batch_never_answered_is_reported_unknown_not_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpPeer(default=Reply.drop()) as peer:
        assert submit_one_row(tmp_path, peer.url, monkeypatch) == 1
    row = only_result(tmp_path)
    assert row["phonon-uuid"] == "" and row["error-code"] == ""
    assert "run the same command again" in row["error-message"]
