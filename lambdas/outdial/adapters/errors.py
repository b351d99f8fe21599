"""Our own exceptions for AWS faults: adapters raise these, nothing else sees ClientError."""


class AdapterError(Exception):
    """An AWS call failed in a way the caller cannot fix by changing its input."""


class EnqueueError(AdapterError):
    """A call could not be handed to the dial queue or the scheduler.

    ``maybe_sent``: some dial message may have reached the queue all the same (a dialer may
    already hold one of the calls), so the calls can no longer be taken back.
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent
