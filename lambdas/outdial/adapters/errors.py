"""Our own exceptions for AWS faults: adapters raise these, nothing else sees ClientError."""


class AdapterError(Exception):
    """An AWS call failed in a way the caller cannot fix by changing its input."""


class EnqueueError(AdapterError):
    """A call could not be handed to the dial queue or the scheduler."""
