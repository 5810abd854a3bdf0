"""Roles are Django groups with a fixed set of permissions.

`roles_ensure()` is the single place that defines them. It is called by `manage.py setup_demo`
(and can be called from tests or a shell) rather than from a data migration: the custom
permissions (review_description, manage_catalogs, manage_thresholds) are created by Django's
post_migrate handler, so they do not exist yet while migrations run on a fresh database.
It is idempotent and authoritative: each group ends up with exactly the permissions below.
"""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

REVIEWER = "reviewer"
EDITOR = "editor"
ADMIN = "admin"
ROLES = (REVIEWER, EDITOR, ADMIN)

# "app_label.codename" strings, as used by user.has_perm().
REVIEWER_PERMISSIONS = frozenset(
    {
        "reviewq.review_description",
        "reviewq.view_catalog",
        "reviewq.view_product",
        "reviewq.view_description",
        "reviewq.view_sentence",
        "reviewq.view_token",
    }
)
EDITOR_PERMISSIONS = REVIEWER_PERMISSIONS | {
    "reviewq.manage_catalogs",
    "reviewq.add_catalog",
    "reviewq.change_catalog",
    "reviewq.add_product",
    "reviewq.change_product",
    "reviewq.assign_reviews",
}
# The admin role gets every permission of the reviewq app (computed, so models added later
# are included) plus user management, so an admin can give people roles.
ADMIN_EXTRA_PERMISSIONS = frozenset({"auth.view_user", "auth.add_user", "auth.change_user", "auth.view_group"})


def role_permission_names(*, role: str) -> frozenset[str]:
    """The "app_label.codename" permissions the role's group must have."""
    if role == REVIEWER:
        return REVIEWER_PERMISSIONS
    if role == EDITOR:
        return EDITOR_PERMISSIONS
    if role == ADMIN:
        reviewq_all = Permission.objects.filter(content_type__app_label="reviewq").values_list("codename", flat=True)
        return frozenset(f"reviewq.{codename}" for codename in reviewq_all) | ADMIN_EXTRA_PERMISSIONS
    raise ValueError(f"unknown role {role!r}")


def _permissions_lookup(names: frozenset[str]) -> list[Permission]:
    wanted: set[tuple[str, str]] = set()
    for name in names:
        app_label, codename = name.split(".", 1)
        wanted.add((app_label, codename))
    apps_labels = {app_label for app_label, _ in wanted}
    found = list(Permission.objects.filter(content_type__app_label__in=apps_labels).select_related("content_type"))
    by_name = {(p.content_type.app_label, p.codename): p for p in found}
    missing = wanted - by_name.keys()
    if missing:
        raise LookupError(f"permissions missing from the database: {sorted(missing)}")
    return [by_name[key] for key in sorted(wanted)]


@transaction.atomic
def roles_ensure() -> None:
    """Create or update the reviewer, editor and admin groups with exactly their permissions."""
    # Permissions normally appear on post_migrate; creating them here too makes this safe to
    # call right after `migrate` in any order (create_permissions skips existing rows).
    for app_label in ("auth", "reviewq"):
        create_permissions(apps.get_app_config(app_label), verbosity=0)
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions_lookup(role_permission_names(role=role)))
