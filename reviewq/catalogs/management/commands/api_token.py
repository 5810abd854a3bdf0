"""Create, list and revoke read-only API tokens. A new key is printed once, never again."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reviewq.catalogs.api import api_token_create, api_token_list, api_token_revoke
from reviewq.core.models import ApiToken


class Command(BaseCommand):
    help = "Manage API tokens: create --user NAME --name LABEL [--days N] | list [--user NAME] | revoke ID_OR_PREFIX"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token; its key is printed once.")
        create.add_argument("--user", required=True, help="Username the token acts as (read-only).")
        create.add_argument("--name", required=True, help="What uses the token, e.g. 'shop sync'.")
        create.add_argument(
            "--days", type=int, default=None, help=f"Days until it expires (default {settings.API_TOKEN_DAYS})."
        )
        listing = sub.add_parser("list", help="List tokens (prefix only; keys are not stored).")
        listing.add_argument("--user", help="Only this user's tokens.")
        revoke = sub.add_parser("revoke", help="Revoke a token by id or key prefix.")
        revoke.add_argument("token", help="Token id or the first characters of its key (prefix).")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _user(self, username: str):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user named {username!r}. A token acts as a user with the reviewer role or above: "
                "invite one on the Users page (/users/) first, or use an existing one (e.g. the demo's reviewer)."
            )
        return user

    def _create(self, *, user: str, name: str, days: int | None = None, **options):
        try:
            token, key = api_token_create(user=self._user(user), name=name, days=days)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Token {token.pk} ({token.name}, {token.scope}) for {user}, expires {token.expires_at:%Y-%m-%d %H:%M %Z}."
        )
        self.stdout.write("The key is shown ONLY NOW:")
        self.stdout.write(key)
        self.stdout.write("Use it as: Authorization: Bearer <key>")

    def _list(self, *, user: str | None = None, **options):
        tokens = api_token_list(user=self._user(user) if user else None)
        if not tokens:
            self.stdout.write("No tokens.")
        for t in tokens:
            if t.revoked_at:
                state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}"
            elif t.expires_at <= timezone.now():
                state = f"expired {t.expires_at:%Y-%m-%d %H:%M}"
            else:
                state = f"active until {t.expires_at:%Y-%m-%d}"
            used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
            self.stdout.write(f"{t.pk:>5}  {t.prefix}…  {t.user.get_username():<16} {t.name:<24} {state}, {used}")

    def _revoke(self, *, token: str, **options):
        rows = ApiToken.objects.filter(pk=int(token)) if token.isdigit() else ApiToken.objects.filter(prefix=token)
        found = list(rows[:2])
        if not found:
            raise CommandError(f"No token {token!r}.")
        if len(found) > 1:
            raise CommandError(f"{token!r} matches several tokens; use the id.")
        if api_token_revoke(token=found[0]):
            self.stdout.write(f"Token {found[0].pk} revoked.")
        else:
            self.stdout.write(f"Token {found[0].pk} was already revoked.")
