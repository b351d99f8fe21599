"""The balance spread over shard items, on moto: requests larger than a shard, accounts from
before the shards, and many reservations and refunds racing across the shards (SPEC §11)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.balance_shards import BALANCE_SHARDS
from outdial.adapters.balances import (
    Balances,
    BalanceTooLow,
    account_pk,
    refund_item,
    shard_pk,
)
from outdial.adapters.config_store import ConfigStore
from outdial.settings import get_settings
from tests.conftest import api_event, call, create_body, invoke


def shards(account_id: str = "acme") -> list[Decimal]:
    table = get_settings().config_table
    held = []
    for shard in range(BALANCE_SHARDS):
        item = aws.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": shard_pk(account_id, shard)}}, ConsistentRead=True
        )
        held.append(Decimal(item["Item"]["balance"]["N"]) if "Item" in item else Decimal(0))
    return held


def refund(account_id: str, amount: Decimal, spread_key: str) -> None:
    aws.client("dynamodb").transact_write_items(
        TransactItems=[refund_item(get_settings().config_table, account_id, amount, spread_key)]
    )


def at_once(worker: Callable[[int], None], workers: int) -> None:
    """Run ``worker(0)`` .. ``worker(workers - 1)`` in threads at once; wait for all."""
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.usefixtures("configured")
class TestOneAccount:
    def test_a_request_larger_than_any_shard_is_accepted_when_the_total_covers_it(self) -> None:
        # Given 1,000 spread over ten shards of 100
        assert shards() == [Decimal(100)] * BALANCE_SHARDS
        # When 500 calls at 1 each are requested
        calls = [call(**{"client-identifier": f"c{n}"}) for n in range(500)]
        status, body = invoke(api_event("POST", "/outbound/create", create_body(calls)))
        # Then they are accepted, 500 is reserved, and the rest lies evenly over the shards
        assert (status, body["api-response-code"]) == (200, 200)
        assert ConfigStore().get_balance("acme") == 500
        assert shards() == [Decimal(50)] * BALANCE_SHARDS

    def test_a_request_the_total_cannot_cover_is_refused_and_nothing_moves(self) -> None:
        Balances().add("acme", Decimal(-501))
        calls = [call(**{"client-identifier": f"c{n}"}) for n in range(500)]
        before = shards()
        status, body = invoke(api_event("POST", "/outbound/create", create_body(calls)))
        assert (status, body["api-response-code"]) == (402, 212)
        assert shards() == before and sum(before) == 499

    def test_concurrent_reservations_and_refunds_across_shards_keep_money_exact(self) -> None:
        # Given 10,000 on the account (a top-up of 9,000 on one shard), and eight workers each
        # reserving 1, 7 and 120 in turn (120: more than most shards hold) and refunding 1
        balances, refused, failed = Balances(), [], []
        balances.add("acme", Decimal(9000))
        sizes = [Decimal(1), Decimal(7), Decimal(120)]

        def worker(n: int) -> None:
            for i in range(6):
                key = f"w{n}-{i}"
                try:
                    balances.reserve("acme", sizes[i % 3], spread_key=key, token=key)
                    refund("acme", Decimal(1), f"CALL#{key}")
                except BalanceTooLow:
                    refused.append(key)
                except Exception as exc:  # a worker's error must fail the test, not vanish
                    failed.append(exc)

        # When they all run at once
        at_once(worker, 8)
        # Then none was refused (the total always covered it) and the money is exact
        assert (refused, failed) == ([], [])
        taken = 8 * 2 * sum(sizes, Decimal(0))
        assert balances.show("acme") == 10_000 - taken + 8 * 6
        assert min(shards()) >= 0

    def test_when_the_money_runs_out_exactly_what_was_there_is_reserved(self) -> None:
        # Given 1,000 and eight workers each wanting 10, twenty times (1,600 in all)
        balances, granted, refused = Balances(), [], []

        def worker(n: int) -> None:
            for i in range(20):
                key = f"w{n}-{i}"
                try:
                    balances.reserve("acme", Decimal(10), spread_key=key, token=key)
                    granted.append(key)
                except BalanceTooLow:
                    refused.append(key)

        at_once(worker, 8)
        # Then exactly the balance was granted: no request refused while money was left
        assert (len(granted), len(refused)) == (100, 60)
        assert balances.show("acme") == 0 and shards() == [Decimal(0)] * BALANCE_SHARDS


def legacy_account(account_id: str, balance: int) -> None:
    """An account as written before the shards: its whole balance on its own item."""
    aws.client("dynamodb").put_item(
        TableName=get_settings().config_table,
        Item={
            "pk": {"S": account_pk(account_id)},
            "doc": {"S": "{}"},
            "balance": {"N": str(balance)},
        },
    )


class TestAnAccountFromBeforeTheShards:
    def test_it_keeps_working_and_moves_into_the_shards(self, resources: Any) -> None:
        legacy_account("old", 1000)
        balances = Balances()
        assert balances.show("old") == 1000
        # When a reservation is made, Then the legacy balance is moved into the shards
        balances.reserve("old", Decimal(3), spread_key="r1", token="r1")
        assert balances.show("old") == 997
        item = aws.client("dynamodb").get_item(
            TableName=get_settings().config_table, Key={"pk": {"S": account_pk("old")}}
        )["Item"]
        assert item["balance"] == {"N": "0"}
        assert sum(shards("old")) == 997
        # And refunds and top-ups land on the shards
        refund("old", Decimal(3), "CALL#c1")
        assert balances.add("old", Decimal(10)) == 1010

    def test_refunds_before_any_reservation_count_too(self, resources: Any) -> None:
        # Given a call reserved before the shards, refunded after them
        legacy_account("old", 999)
        refund("old", Decimal(1), "CALL#c1")
        # Then the refund counts, and a take of everything leaves exactly zero
        assert Balances().show("old") == 1000
        assert Balances().add("old", Decimal(-1000)) == 0

    def test_config_apply_keeps_its_balance(self, resources: Any, apply: Any) -> None:
        from tests.conftest import config_document

        legacy_account("acme", 995)
        apply(config_document())  # the file says 1000
        assert Balances().show("acme") == 995
        assert shards() == [Decimal(0)] * BALANCE_SHARDS  # no shards opened over the old money
