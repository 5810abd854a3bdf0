"""People and their roles: invite, set role, deactivate. Services write, selectors read.

Privileges are never granted here: a role is one of the three groups (roles.ROLES), the staff
flag follows the role (admins may use the Django admin), and superusers are out of reach of
anyone who is not one. Every change is audited.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from reviewq.core.audit import AuditAction, audit_record
from reviewq.core.roles import ADMIN, ROLES

USER_INVITED = AuditAction.USER_INVITED
USER_ROLE_CHANGED = AuditAction.USER_ROLE_CHANGED
USER_DEACTIVATED = AuditAction.USER_DEACTIVATED
USER_REACTIVATED = AuditAction.USER_REACTIVATED


class UserManagementError(ValueError):
    """A change the actor may not make; the message is shown to them."""


def user_role(*, user: AbstractBaseUser) -> str | None:
    """The user's role: the highest of its role groups, or None."""
    names = {group.name for group in user.groups.all()}
    return next((role for role in reversed(ROLES) if role in names), None)


def user_list() -> list:
    users = get_user_model().objects.prefetch_related("groups").order_by("username")
    return [{"user": u, "role": user_role(user=u)} for u in users]


def user_set_password_path(*, user: AbstractBaseUser) -> str:
    """A one-time link: the token dies when the password is set (or after PASSWORD_RESET_TIMEOUT)."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse(
        "password_reset_confirm", kwargs={"uidb64": uidb64, "token": default_token_generator.make_token(user)}
    )


def _check_may_manage(*, actor: AbstractBaseUser, user: AbstractBaseUser) -> None:
    if user.is_superuser and not actor.is_superuser:
        raise UserManagementError(f"{user.get_username()} is a superuser; only a superuser may change them.")
    if user.pk == actor.pk:
        raise UserManagementError("You cannot change your own role or deactivate yourself.")


def _role_apply(*, user: AbstractBaseUser, role: str) -> None:
    if role not in ROLES:
        raise UserManagementError(f"Unknown role {role!r}.")
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get(name=role))
    if not user.is_superuser:
        user.is_staff = role == ADMIN
        user.save(update_fields=["is_staff"])


@transaction.atomic
def user_invite(*, actor: AbstractBaseUser, username: str, email: str = "", role: str) -> AbstractBaseUser:
    """A new active user with `role` and no usable password: they set one through the link."""
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise UserManagementError(f"A user named {username!r} exists already.")
    if role not in ROLES:
        raise UserManagementError(f"Unknown role {role!r}.")
    user = User.objects.create_user(username=username, email=email, password=None)
    _role_apply(user=user, role=role)
    audit_record(action=USER_INVITED, actor=actor, after={"user": username, "role": role})
    return user


@transaction.atomic
def user_role_set(*, actor: AbstractBaseUser, user: AbstractBaseUser, role: str) -> None:
    _check_may_manage(actor=actor, user=user)
    before = user_role(user=user)
    _role_apply(user=user, role=role)
    audit_record(
        action=USER_ROLE_CHANGED,
        actor=actor,
        before={"user": user.get_username(), "role": before},
        after={"user": user.get_username(), "role": role},
    )


@transaction.atomic
def user_active_set(*, actor: AbstractBaseUser, user: AbstractBaseUser, active: bool) -> bool:
    """Deactivate or reactivate; False when it already was. A deactivated user cannot log in
    and their API tokens stop working (api_token_authenticate checks is_active)."""
    _check_may_manage(actor=actor, user=user)
    changed = get_user_model().objects.filter(pk=user.pk, is_active=not active).update(is_active=active)
    if changed:
        user.is_active = active
        audit_record(
            action=USER_REACTIVATED if active else USER_DEACTIVATED, actor=actor, after={"user": user.get_username()}
        )
    return bool(changed)
