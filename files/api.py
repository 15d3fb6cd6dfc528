"""Files and vector stores in OpenAI's wire format: /v1/files, /v1/vector_stores and their files and batches."""

from __future__ import annotations

import dataclasses
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse

from core.api import PageParams, api_view, body_parse, fields_check, invalid, page, page_params, query_check
from files import services
from files.models import File, FileBatch, VectorStore, VectorStoreFile
from files.selectors import STATUSES, file_batch_get, file_get, vector_store_file_get, vector_store_get
from files.serializers import file_batch_object, file_object, vector_store_file_object, vector_store_object

STORE_FIELDS = ("name", "file_ids", "expires_after", "metadata", "chunking_strategy")
STORE_UPDATE_FIELDS = ("name", "expires_after", "metadata")
STORE_FILE_FIELDS = ("file_id", "chunking_strategy", "attributes")
BATCH_FIELDS = ("file_ids", "chunking_strategy", "attributes")
UPLOAD_FIELDS = ("purpose", "expires_after")
# Room for the multipart envelope around the file (boundaries, part headers, the other fields).
UPLOAD_OVERHEAD_BYTES = 64 * 1024


# --- files ------------------------------------------------------------------------------------------------------


def upload_size_check(request: HttpRequest) -> None:
    """Refuse an upload too large by its Content-Length before its body is read (and spooled to disk)."""
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise invalid("The Content-Length header is not a number.") from None
    limit = settings.FILES_MAX_BYTES
    if length > limit + UPLOAD_OVERHEAD_BYTES:
        raise invalid(f"The file is over the limit of {limit} bytes.", param="file", code="file_too_large")


@api_view("GET", "POST")
def files(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        upload_size_check(request)
        fields_check(dict(request.POST.items()), known=UPLOAD_FIELDS)
        upload = request.FILES.get("file")
        if upload is None:
            raise invalid("Missing required parameter: 'file' (send the file as multipart/form-data).", param="file")
        purpose = request.POST.get("purpose")
        if not purpose:
            raise invalid("Missing required parameter: 'purpose'.", param="purpose")
        return JsonResponse(file_object(services.file_create(user=request.user, upload=upload, purpose=purpose)))
    params = page_params(request, extra=("purpose",))
    queryset = File.objects.filter(owner=request.user)
    if request.GET.get("purpose"):
        queryset = queryset.filter(purpose=request.GET["purpose"])
    return JsonResponse(page(queryset, params, file_object))


@api_view("GET", "DELETE")
def file_detail(request: HttpRequest, file_id: str) -> HttpResponse:
    if request.method == "DELETE":
        services.file_delete(user=request.user, file_id=file_id)
        return JsonResponse({"id": file_id, "object": "file", "deleted": True})
    return JsonResponse(file_object(file_get(user=request.user, file_id=file_id)))


@api_view("GET")
def file_content(request: HttpRequest, file_id: str) -> HttpResponse:
    file = file_get(user=request.user, file_id=file_id)
    return FileResponse(
        file.content.open("rb"), as_attachment=True, filename=file.filename, content_type=file.content_type
    )


# --- vector stores ----------------------------------------------------------------------------------------------


@api_view("GET", "POST")
async def vector_stores(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        data = body_parse(request)
        fields_check(data, known=STORE_FIELDS)
        store = await services.vector_store_create(user=request.user, **data)
        return JsonResponse(await sync_to_async(vector_store_object)(store))
    params = page_params(request)
    listed = sync_to_async(page)(VectorStore.objects.filter(owner=request.user), params, vector_store_object)
    return JsonResponse(await listed)


@api_view("GET", "POST", "DELETE")
def vector_store_detail(request: HttpRequest, vector_store_id: str) -> HttpResponse:
    if request.method == "DELETE":
        services.vector_store_delete(user=request.user, vector_store_id=vector_store_id)
        return JsonResponse({"id": vector_store_id, "object": "vector_store.deleted", "deleted": True})
    if request.method == "POST":
        data = body_parse(request)
        fields_check(data, known=STORE_UPDATE_FIELDS)
        store = services.vector_store_update(user=request.user, vector_store_id=vector_store_id, **data)
    else:
        store = vector_store_get(user=request.user, vector_store_id=vector_store_id)
    return JsonResponse(vector_store_object(store))


def _entries_page(queryset: QuerySet[VectorStoreFile], params: PageParams) -> dict[str, Any]:
    """A page of a store's files. The API names each by its file's id, so the cursors are file ids, read as the
    entries they name (entries sort in the order the files were added)."""
    cursors = {}
    for name in ("after", "before"):
        file_id = getattr(params, name)
        if file_id is None:
            continue
        pk = queryset.filter(file_id=file_id).values_list("pk", flat=True).first()
        if pk is None:
            raise invalid(f"'{name}' must be the id of a file in this list.", param=name, code="invalid_value")
        cursors[name] = pk
    return page(queryset, dataclasses.replace(params, **cursors), vector_store_file_object)


def _status_filter(request: HttpRequest, queryset: QuerySet[VectorStoreFile]) -> QuerySet[VectorStoreFile]:
    status = request.GET.get("filter")
    if status is None:
        return queryset
    if status not in STATUSES:
        raise invalid(f"'filter' must be one of {', '.join(STATUSES)}.", param="filter", code="invalid_value")
    return queryset.filter(status=status)


@api_view("GET", "POST")
async def vector_store_files(request: HttpRequest, vector_store_id: str) -> HttpResponse:
    if request.method == "POST":
        data = body_parse(request)
        fields_check(data, known=STORE_FILE_FIELDS)
        entry = await services.vector_store_file_create(user=request.user, vector_store_id=vector_store_id, **data)
        return JsonResponse(vector_store_file_object(entry))
    params = page_params(request, extra=("filter",))

    def listed() -> dict[str, Any]:
        store = vector_store_get(user=request.user, vector_store_id=vector_store_id)
        return _entries_page(_status_filter(request, store.entries.all()), params)

    return JsonResponse(await sync_to_async(listed)())


@api_view("GET", "DELETE")
def vector_store_file_detail(request: HttpRequest, vector_store_id: str, file_id: str) -> HttpResponse:
    if request.method == "DELETE":
        services.vector_store_file_delete(user=request.user, vector_store_id=vector_store_id, file_id=file_id)
        return JsonResponse({"id": file_id, "object": "vector_store.file.deleted", "deleted": True})
    entry = vector_store_file_get(user=request.user, vector_store_id=vector_store_id, file_id=file_id)
    return JsonResponse(vector_store_file_object(entry))


@api_view("POST")
async def file_batches(request: HttpRequest, vector_store_id: str) -> HttpResponse:
    data = body_parse(request)
    fields_check(data, known=BATCH_FIELDS)
    data.pop("attributes", None)
    batch = await services.file_batch_create(user=request.user, vector_store_id=vector_store_id, **data)
    return JsonResponse(await sync_to_async(file_batch_object)(batch))


@api_view("GET")
def file_batch_detail(request: HttpRequest, vector_store_id: str, batch_id: str) -> HttpResponse:
    query_check(request, known=())
    batch = file_batch_get(user=request.user, vector_store_id=vector_store_id, batch_id=batch_id)
    return JsonResponse(file_batch_object(batch))


@api_view("POST")
def file_batch_cancel(request: HttpRequest, vector_store_id: str, batch_id: str) -> HttpResponse:
    batch = services.file_batch_cancel(user=request.user, vector_store_id=vector_store_id, batch_id=batch_id)
    return JsonResponse(file_batch_object(batch))


@api_view("GET")
def file_batch_files(request: HttpRequest, vector_store_id: str, batch_id: str) -> HttpResponse:
    params = page_params(request, extra=("filter",))
    batch: FileBatch = file_batch_get(user=request.user, vector_store_id=vector_store_id, batch_id=batch_id)
    return JsonResponse(_entries_page(_status_filter(request, batch.entries.all()), params))
