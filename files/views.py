"""The pages' side of files: the chat page uploads a message's files here (the session's user, CSRF-checked) and
shows their names and images; another user's file is a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from core.api import ApiError
from core.errors import ServiceError
from files import services
from files.api import upload_size_check
from files.models import File
from files.selectors import file_get


def _file_data(file: File) -> dict[str, object]:
    return {"id": file.pk, "filename": file.filename, "content_type": file.content_type, "bytes": file.bytes}


def _own(request: HttpRequest, file_id: str) -> File:
    try:
        return file_get(user=request.user, file_id=file_id)
    except ServiceError:
        raise Http404("File not found") from None


@login_required
@require_POST
def file_upload(request: HttpRequest) -> HttpResponse:
    """One file from the chat page's attach button or a drop: stored as the API's uploads are."""
    try:
        upload_size_check(request)  # before the body is read
    except ApiError as exc:
        return exc.response()
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": {"message": "Choose a file to attach.", "code": "missing_file"}}, status=400)
    try:
        file = services.file_create(user=request.user, upload=upload, purpose=File.Purpose.ASSISTANTS)
    except ServiceError as exc:
        return JsonResponse({"error": {"message": exc.message, "code": exc.code}}, status=400)
    return JsonResponse(_file_data(file))


@login_required
@require_GET
def file_detail(request: HttpRequest, file_id: str) -> HttpResponse:
    return JsonResponse(_file_data(_own(request, file_id)))


@login_required
@require_GET
def file_content(request: HttpRequest, file_id: str) -> HttpResponse:
    """The file for its owner: an image inline (a message's thumbnail), anything else as a download."""
    file = _own(request, file_id)
    image = file.content_type.startswith("image/")
    response = FileResponse(
        file.content.open("rb"), as_attachment=not image, filename=file.filename, content_type=file.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
