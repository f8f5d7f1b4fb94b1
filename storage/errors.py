"""Exceptions raised by storage verbs."""


class StorageError(Exception):
    pass


class NotFound(StorageError):
    pass


class Duplicate(StorageError):
    pass
