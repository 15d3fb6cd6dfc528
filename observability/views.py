from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from core.metrics import metrics_exposition
from observability.selectors import run_traces_get, waterfall_build
from observability.usage import Period, csv_lines, site_usage, usage_csv_rows, user_usage


@login_required
@require_GET
def run_trace(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    run, traces = run_traces_get(user=request.user, thread_id=thread_id, run_id=run_id)
    return render(
        request,
        "observability/run_trace.html",
        {"run": run, "conversation": run.conversation, "traces": traces, "waterfall": waterfall_build(traces=traces)},
    )


def _metrics_token_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Every process's metrics, added up, in the Prometheus text format: for staff, or for the scrape token."""
    if not _metrics_token_ok(request):
        if not request.user.is_authenticated:
            # A scraper gets a plain 401 it can act on, not a redirect to a login page.
            response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if not request.user.is_staff:
            return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_exposition(settings.METRICS_DIR), content_type=CONTENT_TYPE_LATEST)


@login_required
@require_GET
def my_usage(request: HttpRequest) -> HttpResponse:
    """The signed-in user's tokens and cost for a month, by day and by assistant, with their budget."""
    period = Period.of(request.GET.get("month"))
    return render(request, "observability/my_usage.html", user_usage(user=request.user, period=period))


@login_required
@require_GET
def site_usage_page(request: HttpRequest) -> HttpResponse:
    """Everyone's usage for a month, for staff who may view usage; `?format=csv` downloads every run's row."""
    if not (request.user.is_staff and request.user.has_perm("chat.view_usage")):
        raise PermissionDenied("Only staff who may view usage see everyone's.")
    period = Period.of(request.GET.get("month"))
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(csv_lines(usage_csv_rows(period=period)), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="switchboard-usage-{period.key}.csv"'
        return response
    return render(request, "observability/site_usage.html", site_usage(period=period))
