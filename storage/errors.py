"""Exceptions raised by storage verbs."""


class StorageError(Exception):
    pass


class NotFound(StorageError):
    pass


class Duplicate(StorageError):
    pass


class Unavailable(StorageError):
    """The database could not be reached, or the connection broke mid-way: the unit of work was
    rolled back (or, if the break came during COMMIT, may have committed). Retrying an idempotent
    request is safe."""
