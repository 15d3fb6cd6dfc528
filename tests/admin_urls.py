"""Admin URLs for a saved object, built as the admin builds its own links.

The admin escapes a primary key before it goes into a URL (`_` becomes `_5F`) and unescapes it on the way in, so a raw
id such as `trace_40…` would be read back as `trace@…` and the page would redirect as if the object were gone.
"""

from __future__ import annotations

from django.contrib.admin.utils import quote
from django.db.models import Model
from django.urls import reverse


def admin_url(obj: Model, view: str = "change") -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[quote(obj.pk)])
