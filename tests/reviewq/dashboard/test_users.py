"""In-app user management: invite with a one-time set-password link, set role, deactivate."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from reviewq.core.models import AuditEvent
from reviewq.core.roles import roles_ensure
from reviewq.dashboard.users import USER_DEACTIVATED, USER_INVITED, USER_ROLE_CHANGED
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def admin(db):
    roles_ensure()
    user = UserFactory(username="boss", is_staff=True)
    user.groups.add(Group.objects.get(name="admin"))
    return user


@pytest.fixture
def client_admin(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_invite_creates_a_user_with_a_role_and_a_one_time_link(client_admin, admin):
    response = client_admin.post(reverse("users"), {"username": "newbie", "email": "", "role": "editor"})
    assert response.status_code == 200
    user = User.objects.get(username="newbie")
    assert not user.has_usable_password() and not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["editor"]
    event = AuditEvent.objects.get(action=USER_INVITED)
    assert event.actor == admin and event.after == {"user": "newbie", "role": "editor"}
    link = response.context["invited"]["link"]
    assert link in response.content.decode()

    newcomer = Client()
    landing = newcomer.get(link, follow=True)
    assert landing.context["validlink"]
    done = newcomer.post(
        landing.redirect_chain[-1][0],
        {"new_password1": "Corr3ct-horse-battery", "new_password2": "Corr3ct-horse-battery"},
    )
    assert done.status_code == 302
    assert Client().login(username="newbie", password="Corr3ct-horse-battery")
    assert not Client().get(link, follow=True).context["validlink"]  # used once: dead


def test_invite_refuses_a_taken_username_and_unknown_roles(client_admin):
    UserFactory(username="taken")
    assert client_admin.post(reverse("users"), {"username": "TAKEN", "role": "editor"}).status_code == 400
    assert client_admin.post(reverse("users"), {"username": "x", "role": "superuser"}).status_code == 400
    assert not User.objects.filter(username="x").exists()
    assert not AuditEvent.objects.filter(action=USER_INVITED).exists()


def test_set_role_and_deactivate_are_audited(client_admin, admin):
    person = UserFactory(username="person")
    person.groups.add(Group.objects.get(name="reviewer"))
    url = reverse("user_update", args=[person.pk])
    assert client_admin.post(url, {"action": "role", "role": "admin"}).status_code == 302
    person.refresh_from_db()
    assert list(person.groups.values_list("name", flat=True)) == ["admin"] and person.is_staff
    event = AuditEvent.objects.get(action=USER_ROLE_CHANGED)
    assert event.before["role"] == "reviewer" and event.after["role"] == "admin" and event.actor == admin

    client_admin.post(url, {"action": "deactivate"})
    person.refresh_from_db()
    assert not person.is_active
    assert AuditEvent.objects.filter(action=USER_DEACTIVATED, actor=admin).count() == 1
    assert not Client().login(username="person", password="pw-for-tests-1")


def test_admin_role_cannot_touch_superusers_or_itself(client_admin, admin):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    before = AuditEvent.objects.count()
    for target, data in (
        (root, {"action": "deactivate"}),
        (root, {"action": "role", "role": "reviewer"}),
        (admin, {"action": "deactivate"}),
        (admin, {"action": "role", "role": "reviewer"}),
    ):
        response = client_admin.post(reverse("user_update", args=[target.pk]), data, follow=True)
        assert any(m.level_tag == "error" for m in response.context["messages"])
    root.refresh_from_db()
    admin.refresh_from_db()
    assert root.is_active and not root.groups.exists() and admin.is_active
    assert list(admin.groups.values_list("name", flat=True)) == ["admin"]
    assert AuditEvent.objects.count() == before


def test_users_page_is_linked_for_admins_only(client_admin, db):
    assert reverse("users") in client_admin.get(reverse("home")).content.decode()
    editor = UserFactory(username="ed")
    editor.groups.add(Group.objects.get(name="editor"))
    client = Client()
    client.force_login(editor)
    assert reverse("users") not in client.get(reverse("home")).content.decode()
    assert client.get(reverse("users")).status_code == 403
