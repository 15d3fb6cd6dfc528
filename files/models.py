"""Uploaded files, vector stores over them, and the chunks their search reads."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.ids import new_id
from files.fields import EmbeddingField


def new_file_id() -> str:
    return new_id("file")


def new_vector_store_id() -> str:
    return new_id("vs")


def new_file_batch_id() -> str:
    return new_id("vsfb")


def upload_path(instance: File, filename: str) -> str:
    # The stored name is the id, never the uploaded name: no user-chosen path reaches the storage.
    return f"files/{instance.owner_id}/{instance.id}"


class File(models.Model):
    class Purpose(models.TextChoices):
        ASSISTANTS = "assistants"

    id = models.CharField(primary_key=True, max_length=40, default=new_file_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=32, choices=Purpose.choices, default=Purpose.ASSISTANTS)
    content_type = models.CharField(max_length=100)
    bytes = models.PositiveBigIntegerField()
    content = models.FileField(upload_to=upload_path, max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.filename


class VectorStore(models.Model):
    class Status(models.TextChoices):
        EXPIRED = "expired"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    id = models.CharField(primary_key=True, max_length=40, default=new_vector_store_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="vector_stores")
    name = models.CharField(max_length=256, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # {"anchor": "last_active_at", "days": n}, or None: it never expires.
    expires_after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_active_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name or self.id

    @property
    def expires_at(self):
        if not self.expires_after:
            return None
        return self.last_active_at + timedelta(days=self.expires_after["days"])

    def is_expired(self) -> bool:
        expires_at = self.expires_at
        return expires_at is not None and expires_at <= timezone.now()


class FileBatch(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=new_file_batch_id, editable=False)
    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="batches")
    cancelled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.id


class VectorStoreFile(models.Model):
    """A file in a vector store; the API names it by its file's id."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="entries")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="entries")
    batch = models.ForeignKey(FileBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    # {"code": "invalid_file" | "server_error" | "unsupported_file", "message": …}
    last_error = models.JSONField(null=True, blank=True)
    chunking_strategy = models.JSONField(default=dict)
    attributes = models.JSONField(default=dict, blank=True)
    usage_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["vector_store", "file"], name="vector_store_file_once")]

    def __str__(self) -> str:
        return f"{self.file_id} in {self.vector_store_id}"


class Chunk(models.Model):
    """A piece of an indexed file; the full-text index over `text` is the database's own (see search.py)."""

    entry = models.ForeignKey(VectorStoreFile, on_delete=models.CASCADE, related_name="chunks")
    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    text = models.TextField()
    # Unit-length float32 values from FILES_EMBEDDINGS_MODEL; null when none is configured (files.embeddings).
    embedding = EmbeddingField(null=True, blank=True)

    class Meta:
        ordering = ["entry", "index"]

    def __str__(self) -> str:
        return f"{self.file_id} #{self.index}"
