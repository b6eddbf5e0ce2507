"""What the photo tests count and empty, through the storage API only — so the same tests run
on the local disk (the default) and on an S3-compatible bucket (``PHOTO_STORAGE=s3``)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from django.core.files.storage import Storage, storages

from apps.cases.models import private_storage


def _walk(storage: Storage, directory: str = "") -> Iterator[str]:
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:  # a disk root no test has written to yet
        return
    for name in files:
        yield posixpath.join(directory, name) if directory else name
    for sub in directories:
        yield from _walk(storage, posixpath.join(directory, sub) if directory else sub)


def _storages() -> list[Storage]:
    # Photo storage (originals and copies) and public media: a photo must reach neither by
    # mistake, so both are counted.
    return [private_storage(), storages["default"]]


def stored_files() -> list[str]:
    """Every file in photo storage and in public media, by storage name."""
    return [name for storage in _storages() for name in _walk(storage)]


def empty_storage() -> None:
    """Delete every file in photo storage and in public media."""
    for storage in _storages():
        for name in list(_walk(storage)):
            storage.delete(name)
