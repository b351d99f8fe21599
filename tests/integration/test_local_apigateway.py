"""The local API Gateway of `outdial serve`: HTTP on 127.0.0.1 into the api handler."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from outdial.local.apigateway import ApiGateway


def test_it_runs_one_invocation_at_a_time() -> None:
    # Given a handler that takes a while, behind the local gateway
    running = 0
    most = 0
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return {"statusCode": 200, "body": json.dumps({"body": event["body"]})}

    gateway = ApiGateway(handler, port=0).start()
    answers: list[tuple[str, str]] = []

    def client(n: int) -> None:
        request = urllib.request.Request(f"{gateway.url}/x", data=f"request-{n}".encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            answers.append((f"request-{n}", json.loads(response.read())["body"]))

    # When eight clients post at once
    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gateway.stop()
    # Then each got its own answer, and the handler never ran twice at once: one invocation at a
    # time, as in one Lambda execution environment (Powertools' resolver keeps the current event
    # in process-wide state, so concurrent invocations would read each other's requests)
    assert sorted(answers) == sorted((f"request-{n}", f"request-{n}") for n in range(8))
    assert most == 1
