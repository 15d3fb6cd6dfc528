"""The preferences a user sets on the account page, and the theme switch in the header."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from assistants.models import Assistant
from core.preferences import Theme, preference_get, preference_update


class PreferenceForm(forms.Form):
    theme = forms.ChoiceField(choices=Theme.choices, widget=forms.RadioSelect)
    default_assistant = forms.ModelChoiceField(
        queryset=Assistant.objects.none(),
        required=False,
        empty_label="The site's default",
        label="New chats start with",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only assistants this user may chat with; another user's assistant is not a valid choice.
        self.fields["default_assistant"].queryset = Assistant.objects.usable_by(user).order_by("name", "pk")


def preference_form(*, user, data=None) -> PreferenceForm:
    preference = preference_get(user=user)
    initial = {"theme": preference.theme, "default_assistant": preference.default_assistant_id}
    return PreferenceForm(data, user=user, initial=initial)


@login_required
@require_POST
def preferences_save(request: HttpRequest) -> HttpResponse:
    form = preference_form(user=request.user, data=request.POST)
    if form.is_valid():
        preference_update(user=request.user, **form.cleaned_data)
        messages.success(request, "Preferences saved.")
    else:
        messages.error(request, "Those preferences could not be saved: pick a theme and one of your assistants.")
    return redirect(reverse("core:account") + "#preferences")


@login_required
@require_POST
def theme_set(request: HttpRequest) -> HttpResponse:
    """The header's theme switch: save the choice, and go back to the page it was made on."""
    theme = request.POST.get("theme", "")
    if theme in Theme.values:
        preference_update(user=request.user, theme=theme)
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("chat:conversation_list")


@login_required
@require_POST
def sidebar_set(request: HttpRequest) -> HttpResponse:
    """Remember whether the chat page's conversation list is folded away (the page's ☰ button)."""
    preference_update(user=request.user, sidebar_collapsed=request.POST.get("collapsed") == "1")
    return HttpResponse(status=204)
