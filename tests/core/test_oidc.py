"""Single sign-on's own rules, without a provider: who a claim makes, and how groups follow the claim."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation

from core.models import ExternalIdentity
from core.oidc import OIDCBackend, groups_sync

pytestmark = pytest.mark.django_db

ISSUER = "https://id.example.org"


@pytest.fixture
def backend(settings) -> OIDCBackend:
    settings.OIDC_ISSUER = ISSUER
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "switchboard", "secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    for name, path in (("TOKEN", "token"), ("USER", "me"), ("JWKS", "jwks"), ("AUTHORIZATION", "auth")):
        setattr(settings, f"OIDC_OP_{name}_ENDPOINT", f"{ISSUER}/{path}")
    return OIDCBackend()


def test_it_creates_a_user_with_no_local_password_and_their_groups(backend):
    user = backend.create_user({"sub": "u-1", "preferred_username": "carol", "email": "c@x.org", "groups": ["a"]})
    assert user.username == "carol" and not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == ["a"]
    assert ExternalIdentity.objects.get(user=user).subject == "u-1"


def test_it_finds_users_by_subject_never_by_email(backend, alice):
    alice.email = "carol@x.org"
    alice.save()
    assert not backend.filter_users_by_claims({"sub": "u-9", "email": "carol@x.org"}).exists()


def test_it_will_not_take_over_a_local_account_of_the_same_name(backend, alice):
    with pytest.raises(SuspiciousOperation):
        backend.create_user({"sub": "u-2", "preferred_username": "alice"})


def test_it_keeps_the_groups_an_admin_gave_and_drops_those_the_claim_no_longer_names(backend):
    user = backend.create_user({"sub": "u-3", "preferred_username": "dora", "groups": ["research", "sales"]})
    user.groups.add(Group.objects.create(name="given-by-hand"))
    groups_sync(user=user, claimed=["sales", "new-team"])
    assert sorted(user.groups.values_list("name", flat=True)) == ["given-by-hand", "new-team", "sales"]
    groups_sync(user=user, claimed="sales")
    assert sorted(user.groups.values_list("name", flat=True)) == ["given-by-hand", "sales"]
    groups_sync(user=user, claimed=None)
    assert sorted(user.groups.values_list("name", flat=True)) == ["given-by-hand"]
