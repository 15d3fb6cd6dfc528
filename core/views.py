"""Personal settings pages: the account (password, sessions, signing out everywhere) and API tokens."""

from __future__ import annotations

from base64 import b32encode

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core.accounts import password_change, session_end, session_end_all, session_list
from core.confirm import confirm_page
from core.errors import ServiceError
from core.forms import TokenCreateForm
from core.models import ApiToken
from core.tokens import token_create, token_reveal_keep, token_reveal_take, token_revoke
from core.twofactor import totp_begin, totp_confirm, totp_device, totp_disable


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        password_change(request=request, user=request.user, new_password=form.cleaned_data["new_password1"])
        messages.success(request, "Your password is changed; every other session is signed out.")
        return redirect("core:account")
    pending = totp_device(user=request.user, confirmed=False)
    context = {
        "form": form,
        "two_factor": totp_device(user=request.user),
        "two_factor_pending": pending,
        # Authenticator apps take the key in base32.
        "two_factor_key": b32encode(pending.bin_key).decode() if pending else "",
        "sessions": session_list(user=request.user),
        "current": request.session.session_key,
        "tokens": ApiToken.objects.filter(user=request.user, revoked_at__isnull=True),
    }
    return render(request, "core/account.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def session_end_view(request: HttpRequest, session_id: int) -> HttpResponse:
    if request.method == "GET":
        session = next((s for s in session_list(user=request.user) if s.pk == session_id), None)
        if session is None or session.session_key == request.session.session_key:
            raise Http404("Session not found")
        return confirm_page(
            request,
            title="Sign out this session?",
            text=f"The browser {session.user_agent or 'of this session'} ({session.address or 'unknown address'}) "
            "is signed out and has to log in again.",
            button="Sign out",
            cancel=reverse("core:account") + "#sessions",
        )
    try:
        session_end(user=request.user, session_id=session_id)
    except ServiceError:
        raise Http404("Session not found") from None
    messages.success(request, "That session is signed out.")
    return redirect("core:account")


@login_required
@require_http_methods(["GET", "POST"])
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return confirm_page(
            request,
            title="Sign out everywhere?",
            text="Every session of yours ends, this one too; you have to log in again on each device. "
            "API tokens keep working.",
            button="Sign out everywhere",
            cancel=reverse("core:account") + "#sessions",
        )
    session_end_all(user=request.user)
    logout(request)
    messages.success(request, "You are signed out everywhere.")
    return redirect("login")


@never_cache  # The page that shows a new token must not be kept by the browser or a proxy.
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        created, raw = token_create(
            user=request.user, name=form.cleaned_data["name"], expires_in_days=form.cleaned_data["expires_in_days"]
        )
        token_reveal_keep(session=request.session, token=created, raw=raw)
        return redirect("core:token_list")
    created, raw = (None, "") if form.is_bound else token_reveal_take(session=request.session, user=request.user)
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "core/token_list.html", {"form": form, "tokens": tokens, "created": created, "raw": raw})


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    if request.method == "GET":
        token = ApiToken.objects.filter(pk=token_id, user=request.user, revoked_at__isnull=True).first()
        if token is None:
            raise Http404("Token not found")
        return confirm_page(
            request,
            title=f"Revoke the token “{token.name}”?",
            text=f"Scripts that use {token.prefix}… stop working at once. A revoked token cannot be restored.",
            button="Revoke",
            cancel=reverse("core:token_list"),
        )
    try:
        token = token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("Token not found") from None
    messages.success(request, f"Revoked {token.name}.")
    return redirect("core:token_list")


@never_cache  # The page shows the new authenticator's key.
@login_required
@require_POST
def two_factor(request: HttpRequest) -> HttpResponse:
    """Begin, confirm or turn off two-factor sign-in, by the button pressed."""
    action = request.POST.get("action")
    try:
        if action == "begin":
            totp_begin(user=request.user)
            messages.info(request, "Add the key below to your authenticator app, then enter the code it shows.")
        elif action == "confirm":
            totp_confirm(request=request, user=request.user, token=request.POST.get("token", ""))
            messages.success(request, "Two-factor sign-in is on: you will be asked for a code when you log in.")
        elif action == "disable":
            totp_disable(user=request.user, token=request.POST.get("token", ""))
            messages.success(request, "Two-factor sign-in is off.")
    except ServiceError as exc:
        messages.error(request, exc.message.removeprefix("token: "))
    return redirect(f"{reverse('core:account')}#two-factor")
