"""A partial-batch processor that works a batch's records together.

Powertools' ``BatchProcessor`` handles one record after another: a webhooks batch of five, each
waiting ~100 ms on its receiver, would wait half a second. This one hands the records to a small
pool of threads (each in a copy of the caller's context, so logger keys and an open metrics
batch hold) and reports exactly what ``BatchProcessor`` would: every record that raised, on its
own, in the batch's order.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor

from outdial.adapters.parallel import each


class ConcurrentBatchProcessor(BatchProcessor):
    """``BatchProcessor`` with up to ``concurrency`` records handled at a time."""

    def __init__(self, *args: Any, concurrency: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.concurrency = concurrency

    def process(self) -> list[tuple[Any, ...]]:
        # _process_record catches what the handler raises and records it as that record's
        # failure (success and failure handlers only append to lists).
        records = list(self.records)
        results: list[Any] = each(self._process_record, records, limit=self.concurrency)
        for n, (record, result) in enumerate(zip(records, results, strict=True)):
            if isinstance(result, Exception):  # never left unreported (it would be deleted)
                info = (type(result), result, result.__traceback__)
                data = self._to_batch_type(record, event_type=self.event_type, model=self.model)
                results[n] = self.failure_handler(record=data, exception=info)
        order = {_message_id(r): n for n, r in enumerate(records)}
        for kept in (self.success_messages, self.fail_messages):
            kept.sort(key=lambda r: order.get(_message_id(r), len(order)))
        return results


def _message_id(record: Any) -> str:
    if isinstance(record, dict):
        return str(record.get("messageId", ""))
    return str(getattr(record, "message_id", ""))
