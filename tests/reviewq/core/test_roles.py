import pytest
from django.contrib.auth.models import Group, Permission

from reviewq.core.roles import ADMIN, EDITOR, REVIEWER, ROLES, role_permission_names, roles_ensure
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REVIEWER_EXPECTED = {
    "reviewq.review_description",
    "reviewq.view_catalog",
    "reviewq.view_product",
    "reviewq.view_description",
    "reviewq.view_sentence",
    "reviewq.view_token",
}
EDITOR_EXPECTED = REVIEWER_EXPECTED | {
    "reviewq.manage_catalogs",
    "reviewq.add_catalog",
    "reviewq.change_catalog",
    "reviewq.add_product",
    "reviewq.change_product",
    "reviewq.assign_reviews",
}


def group_permissions(name):
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename")
    }


def all_reviewq_permissions():
    return {
        f"reviewq.{codename}"
        for codename in Permission.objects.filter(content_type__app_label="reviewq").values_list("codename", flat=True)
    }


def test_each_group_has_exactly_its_permissions():
    roles_ensure()

    assert group_permissions(REVIEWER) == REVIEWER_EXPECTED
    assert group_permissions(EDITOR) == EDITOR_EXPECTED
    admin = group_permissions(ADMIN)
    assert admin == all_reviewq_permissions() | {
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
    }
    assert {
        "reviewq.manage_thresholds",
        "reviewq.change_thresholds",
        "reviewq.manage_catalogs",
        "reviewq.review_description",
        "reviewq.delete_description",
    } <= admin


def test_roles_are_nested_and_reviewers_cannot_manage():
    roles_ensure()
    reviewer, editor, admin = (group_permissions(role) for role in (REVIEWER, EDITOR, ADMIN))
    assert reviewer < editor < admin
    assert not {"reviewq.manage_catalogs", "reviewq.manage_thresholds"} & reviewer
    assert "reviewq.manage_thresholds" not in editor
    assert "reviewq.change_thresholds" not in editor
    assert not any(p.startswith("auth.") for p in editor)


def test_roles_ensure_is_idempotent_and_repairs_drift():
    roles_ensure()
    before = {role: group_permissions(role) for role in ROLES}
    group_ids = set(Group.objects.values_list("id", flat=True))

    reviewer = Group.objects.get(name=REVIEWER)
    reviewer.permissions.add(Permission.objects.get(codename="manage_thresholds"))
    reviewer.permissions.remove(Permission.objects.get(codename="review_description"))
    roles_ensure()
    roles_ensure()

    assert {role: group_permissions(role) for role in ROLES} == before
    assert set(Group.objects.values_list("id", flat=True)) == group_ids
    assert Group.objects.count() == 3


def test_users_in_groups_get_the_permissions():
    roles_ensure()
    reviewer = UserFactory()
    reviewer.groups.add(Group.objects.get(name=REVIEWER))
    editor = UserFactory()
    editor.groups.add(Group.objects.get(name=EDITOR))
    admin = UserFactory()
    admin.groups.add(Group.objects.get(name=ADMIN))

    assert reviewer.has_perm("reviewq.review_description")
    assert not reviewer.has_perm("reviewq.manage_catalogs")
    assert editor.has_perm("reviewq.manage_catalogs") and editor.has_perm("reviewq.review_description")
    assert not editor.has_perm("reviewq.manage_thresholds")
    assert admin.has_perm("reviewq.manage_thresholds") and admin.has_perm("reviewq.change_thresholds")


def test_roles_ensure_works_when_permissions_are_missing():
    """Right after a flush (or before post_migrate ran) the permission rows may be gone."""
    Permission.objects.filter(content_type__app_label="reviewq").delete()
    roles_ensure()
    assert group_permissions(REVIEWER) == REVIEWER_EXPECTED


def test_unknown_role_is_refused():
    with pytest.raises(ValueError):
        role_permission_names(role="superhero")
