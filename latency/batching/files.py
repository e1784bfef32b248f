"""Batch API files: store an upload, read and delete the owner's own."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from latency.models import BatchFile


def files_owned(*, user: AbstractBaseUser) -> QuerySet[BatchFile]:
    return BatchFile.objects.filter(owner=user)


def file_store(*, owner: AbstractBaseUser, filename: str, data: bytes, purpose: str) -> BatchFile:
    from latency.batching.ids import batch_uid

    return BatchFile.objects.create(
        uid=batch_uid("file-"), owner=owner, purpose=purpose, filename=filename[:255],
        size=len(data), data=data,
    )  # fmt: skip


def file_owned(*, user: AbstractBaseUser, uid: str) -> BatchFile | None:
    return files_owned(user=user).filter(uid=uid).first()


def file_delete(*, user: AbstractBaseUser, uid: str) -> bool:
    return files_owned(user=user).filter(uid=uid).delete()[0] > 0
