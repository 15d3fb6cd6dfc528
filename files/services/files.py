"""Workflows for uploaded files."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from core.errors import ServiceError
from files import indexing
from files.extract import FileRefused, content_type_check
from files.models import File
from files.selectors import file_get

FILENAME_MAX = 255
FILES_PER_REQUEST_MAX = 500


def file_create(*, user: AbstractBaseUser, upload: UploadedFile, purpose: str) -> File:
    """Store an upload, once its size and type are ones Switchboard takes; a refused one leaves nothing behind."""
    if purpose != File.Purpose.ASSISTANTS:
        raise ServiceError("invalid_value", "'purpose' must be 'assistants'.", param="purpose")
    limit = settings.FILES_MAX_BYTES
    if upload.size is None or upload.size > limit:
        size = f"{limit} bytes ({limit / 1024 / 1024:g} MiB)"
        raise ServiceError("file_too_large", f"The file is over the limit of {size}.", param="file")
    if upload.size == 0:
        raise ServiceError("file_empty", "The file is empty.", param="file")
    filename = (upload.name or "").replace("\\", "/").rsplit("/", 1)[-1][:FILENAME_MAX]
    data = upload.read()
    try:
        content_type = content_type_check(filename, data)
    except FileRefused as exc:
        raise ServiceError("invalid_file", str(exc), param="file") from None
    file = File(owner=user, filename=filename, purpose=purpose, content_type=content_type, bytes=len(data))
    file.content.save(file.id, ContentFile(data), save=False)
    try:
        file.save()
    except BaseException:
        file.content.delete(save=False)
        raise
    return file


def file_delete(*, user: AbstractBaseUser, file_id: str) -> None:
    """Delete a file, its content and its place in every vector store."""
    file = file_get(user=user, file_id=file_id)
    name = file.content.name
    storage = file.content.storage
    with transaction.atomic():
        indexing.indexing_cancel(list(file.entries.values_list("pk", flat=True)))
        file.delete()
        transaction.on_commit(lambda: storage.delete(name))


def files_of_user(*, user: AbstractBaseUser, file_ids: Any, param: str) -> list[File]:
    """These files of the user's, by id, in order; another user's file is not found."""
    if not isinstance(file_ids, list) or not all(isinstance(i, str) for i in file_ids):
        raise ServiceError("invalid_type", f"'{param}' must be a list of file ids.", param=param)
    if len(file_ids) > FILES_PER_REQUEST_MAX:
        raise ServiceError("invalid_value", f"At most {FILES_PER_REQUEST_MAX} files at once.", param=param)
    unique = list(dict.fromkeys(file_ids))
    found = {file.pk: file for file in File.objects.filter(owner=user, pk__in=unique)}
    for file_id in unique:
        if file_id not in found:
            raise ServiceError.not_found("file", file_id)
    return [found[file_id] for file_id in unique]
