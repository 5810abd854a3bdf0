import json
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from reviewq.catalogs.imports import parse_catalog
from reviewq.catalogs.management.commands.setup_demo import DEMO_CATALOG_NAME, DEMO_CATALOG_PATH
from reviewq.core.models import AuditEvent, Catalog

pytestmark = pytest.mark.django_db

PASSWORD_LINE = re.compile(r"^\s+(reviewer|editor|admin)\s+(\S+)$", re.MULTILINE)


def setup_demo(*args) -> str:
    out = StringIO()
    call_command("setup_demo", *args, stdout=out)
    return out.getvalue()


def test_demo_catalog_file_is_realistic_and_valid():
    parsed = parse_catalog(DEMO_CATALOG_PATH.read_bytes(), filename=DEMO_CATALOG_PATH.name)
    assert parsed.ok, parsed.errors
    assert 35 <= len(parsed.rows) <= 50
    categories = {row.attributes["category"] for row in parsed.rows}
    assert {"kitchen", "outdoor", "electronics accessories", "apparel", "home", "beauty"} == categories
    for row in parsed.rows:
        assert "price" in row.attributes, row.sku
        assert len(row.attributes) >= 5, row.sku  # category, price and at least three concrete facts


def test_first_run_creates_roles_catalog_and_users_with_passwords_shown_once():
    output = setup_demo()

    catalog = Catalog.objects.get(name=DEMO_CATALOG_NAME)
    expected = len(json.loads(DEMO_CATALOG_PATH.read_text())["products"])
    assert catalog.products.count() == expected
    User = get_user_model()
    passwords = dict(PASSWORD_LINE.findall(output))
    assert set(passwords) == {"reviewer", "editor", "admin"}
    assert len(set(passwords.values())) == 3
    for username, password in passwords.items():
        user = User.objects.get(username=username)
        assert user.check_password(password)
        assert list(user.groups.values_list("name", flat=True)) == [username]
        assert user.is_staff == (username == "admin")
        assert not user.is_superuser
    assert User.objects.get(username="reviewer").has_perm("reviewq.review_description")
    assert User.objects.get(username="admin").has_perm("reviewq.manage_thresholds")
    assert "shown ONLY NOW" in output


def test_second_run_changes_nothing_and_prints_no_password():
    first = setup_demo()
    passwords = dict(PASSWORD_LINE.findall(first))
    products = sorted(Catalog.objects.get(name=DEMO_CATALOG_NAME).products.values_list("sku", "name"))
    audit_rows = AuditEvent.objects.count()

    second = setup_demo()

    assert PASSWORD_LINE.findall(second) == []
    for username, password in passwords.items():
        assert password not in second
        assert f"User {username!r} exists" in second
        assert f"python manage.py changepassword {username}" in second
        assert get_user_model().objects.get(username=username).check_password(password)
    assert sorted(Catalog.objects.get(name=DEMO_CATALOG_NAME).products.values_list("sku", "name")) == products
    assert AuditEvent.objects.count() == audit_rows
    assert get_user_model().objects.count() == 3


def test_reload_catalog_restores_the_file_contents():
    setup_demo()
    product = Catalog.objects.get(name=DEMO_CATALOG_NAME).products.get(sku="KIT-1001")
    original = product.name
    product.name = "Edited by hand"
    product.save()

    output = setup_demo("--reload-catalog")

    product.refresh_from_db()
    assert product.name == original
    assert "1 updated" in output


def test_existing_user_is_put_back_into_its_group():
    setup_demo()
    editor = get_user_model().objects.get(username="editor")
    editor.groups.clear()
    setup_demo()
    assert list(editor.groups.values_list("name", flat=True)) == ["editor"]
