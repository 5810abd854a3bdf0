"""Roles, the demo catalog and one demo user per role. Safe to run again and again."""

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from reviewq.catalogs.imports import catalog_import
from reviewq.core.models import Catalog
from reviewq.core.roles import ADMIN, EDITOR, REVIEWER, roles_ensure

DEMO_CATALOG_NAME = "Demo catalog"
DEMO_CATALOG_PATH = Path(__file__).resolve().parents[2] / "demo_catalog.json"
# username -> (role, is_staff). The admin user may use Django's admin site.
DEMO_USERS = {"reviewer": (REVIEWER, False), "editor": (EDITOR, False), "admin": (ADMIN, True)}


class Command(BaseCommand):
    help = (
        "Create the reviewer/editor/admin roles, load the demo catalog and create one demo user "
        "per role. New users' passwords are printed once; existing users are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reload-catalog",
            action="store_true",
            help="Import the demo catalog file again even if the catalog exists (upsert by sku).",
        )

    def handle(self, *args, reload_catalog: bool, **options):
        roles_ensure()
        self.stdout.write("Roles ready: reviewer, editor, admin.")
        self._catalog_load(reload=reload_catalog)
        created = self._users_ensure()
        if created:
            lines = [
                " Demo users created. Their passwords are shown ONLY NOW:",
                "",
                *(f"   {username:<9} {password}" for username, password in created),
                "",
                " Reset one later with: python manage.py changepassword <username>",
            ]
            rule = self.style.WARNING("=" * (max(len(line) for line in lines) + 1))
            self.stdout.write(rule)
            for line in lines:
                self.stdout.write(line)
            self.stdout.write(rule)

    def _catalog_load(self, *, reload: bool) -> None:
        catalog = Catalog.objects.filter(name=DEMO_CATALOG_NAME).first()
        if catalog is not None and not reload:
            self.stdout.write(
                f"{DEMO_CATALOG_NAME!r} exists ({catalog.products.count()} products); not re-imported "
                "(use --reload-catalog to import the file again)."
            )
            return
        result = catalog_import(
            catalog_name=DEMO_CATALOG_NAME,
            data=DEMO_CATALOG_PATH.read_bytes(),
            filename=DEMO_CATALOG_PATH.name,
        )
        self.stdout.write(
            f"{DEMO_CATALOG_NAME!r}: {result.created} products created, {result.updated} updated, "
            f"{result.unchanged} unchanged."
        )

    @transaction.atomic
    def _users_ensure(self) -> list[tuple[str, str]]:
        """Create missing demo users; returns (username, password) for the new ones."""
        User = get_user_model()
        created = []
        for username, (role, is_staff) in DEMO_USERS.items():
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(username=username, password=password, is_staff=is_staff)
                created.append((username, password))
            else:
                self.stdout.write(
                    f"User {username!r} exists; password unchanged "
                    f"(reset it with: python manage.py changepassword {username})."
                )
            user.groups.add(Group.objects.get(name=role))
        return created
