"""Per-account webhook backoff: a receiver that fails holds up only its own account.

When a delivery to an account's receiver times out or fails (5xx, 408/429, no connection), the
account is marked failing until ``now + backoff`` (30 s doubling to 15 min): every other webhook
of that account that comes up meanwhile, in any webhooks Lambda, is postponed without a
connection, so one slow or dead receiver costs at most one bounded attempt per backoff period
instead of one per event, and other accounts' deliveries never queue behind it. A delivery that
succeeds clears the mark. One small item per failing account in the calls table (TTL'd).
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import TTL_ATTRIBUTE, CallsTableAdapter, key

BACKOFF_KEY_PREFIX = "WEBHOOK-BACKOFF#"  # the webhooks function may write only these keys
BASE_SECONDS = 30
MAX_SECONDS = 15 * 60
_KEEP_SECONDS = 24 * 3600  # the mark's TTL after its last failure


def backoff_pk(account_id: str) -> str:
    return f"{BACKOFF_KEY_PREFIX}{account_id}"


def backoff_seconds(failures: int) -> int:
    """How long an account is held after ``failures`` failures in a row."""
    return int(min(BASE_SECONDS * 2 ** min(max(failures, 1) - 1, 16), MAX_SECONDS))


@dataclass(frozen=True)
class Backoff:
    """An account's failing receiver: held until ``until`` (epoch seconds)."""

    failures: int
    until: float


class ReceiverBackoff(CallsTableAdapter):
    """Reads and updates the per-account marks."""

    def get(self, account_id: str) -> Backoff | None:
        """The account's mark, or None when its receiver is not known to fail."""
        try:
            item = self.client.get_item(TableName=self.table, Key=key(backoff_pk(account_id))).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"reading the webhook backoff of {account_id}: {exc}") from exc
        if not item:
            return None
        return Backoff(int(item["failures"]["N"]), float(item["until"]["N"]))

    def failed(self, account_id: str, now: float) -> Backoff:
        """Count one more failure in a row; the account is held until the returned ``until``.

        Two Lambdas failing at once both count: the hold only grows faster, never shorter."""
        pk = backoff_pk(account_id)
        try:
            item = self.client.update_item(
                TableName=self.table,
                Key=key(pk),
                UpdateExpression="ADD failures :one SET #expires = :expires",
                ExpressionAttributeNames={"#expires": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":expires": {"N": str(int(now) + _KEEP_SECONDS)},
                },
                ReturnValues="UPDATED_NEW",
            )
            failures = int(item["Attributes"]["failures"]["N"])
            until = now + backoff_seconds(failures)
            self.client.update_item(
                TableName=self.table,
                Key=key(pk),
                UpdateExpression="SET #until = :until",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":until": {"N": str(round(until, 3))}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"marking the webhook backoff of {account_id}: {exc}") from exc
        return Backoff(failures, until)

    def recovered(self, account_id: str) -> None:
        """The account's receiver took a delivery: forget its failures."""
        try:
            self.client.delete_item(TableName=self.table, Key=key(backoff_pk(account_id)))
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"clearing the webhook backoff of {account_id}: {exc}") from exc
