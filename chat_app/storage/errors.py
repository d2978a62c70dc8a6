"""What a backend raises when storage cannot be used at all."""


class StorageError(Exception):
    """Storage cannot be used; the message says what is wrong and what to do."""
