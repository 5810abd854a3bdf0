from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewq.core.models import (
    ApiToken,
    AuditEvent,
    Catalog,
    Description,
    GenerationRun,
    Product,
    Sentence,
    Thresholds,
    Token,
)
from reviewq.core.roles import ADMIN, roles_ensure
from tests.factories import TokenFactory, UserFactory

pytestmark = pytest.mark.django_db

MODELS = [Catalog, Product, Description, Sentence, Token, Thresholds, AuditEvent, GenerationRun, ApiToken]


@pytest.fixture
def one_of_each(db):
    token = TokenFactory()
    description = token.description
    catalog = description.product.catalog
    Thresholds.objects.create(catalog=None)
    Thresholds.objects.create(catalog=catalog, publish_above=-0.4)
    AuditEvent.objects.create(
        action="status_change",
        description=description,
        catalog=catalog,
        before={"status": "queued"},
        after={"status": "generating"},
    )
    return {
        Catalog: catalog,
        Product: description.product,
        Description: description,
        Sentence: token.sentence,
        Token: token,
        Thresholds: Thresholds.objects.get(catalog=catalog),
        AuditEvent: AuditEvent.objects.get(),
        GenerationRun: GenerationRun.objects.create(catalog=catalog, queued=3),
        ApiToken: ApiToken.objects.create(
            user=UserFactory(),
            name="shop",
            key_hash="0" * 64,
            prefix="abcd1234",
            expires_at=timezone.now() + timedelta(days=1),
        ),
    }


def url(model, view, *args):
    return reverse(f"admin:reviewq_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_page_load_for_superuser(admin_client, one_of_each, model):
    obj = one_of_each[model]
    changelist = admin_client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count >= 1
    change = admin_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200


@pytest.mark.parametrize("model", [Description, Sentence, Token, AuditEvent], ids=lambda m: m.__name__)
def test_generated_data_and_audit_log_are_read_only(admin_client, one_of_each, model):
    obj = one_of_each[model]
    assert admin_client.get(url(model, "add")).status_code == 403
    change = admin_client.get(url(model, "change", obj.pk))
    assert change.context["has_change_permission"] is False
    assert b'name="_save"' not in change.content


@pytest.mark.parametrize("model", [Sentence, Token, AuditEvent], ids=lambda m: m.__name__)
def test_no_delete_for_sentences_tokens_audit(admin_client, one_of_each, model):
    obj = one_of_each[model]
    assert admin_client.get(url(model, "delete", obj.pk)).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_description_status_cannot_be_changed_through_admin(admin_client, one_of_each):
    description = one_of_each[Description]
    response = admin_client.post(
        url(Description, "change", description.pk),
        {"status": "published", "published_at_0": "2030-01-01", "published_at_1": "00:00:00"},
    )
    assert response.status_code == 403
    description.refresh_from_db()
    assert description.status == Description.Status.QUEUED
    assert description.version == 1


def test_catalog_changelist_counts_products(admin_client, one_of_each):
    response = admin_client.get(url(Catalog, "changelist"))
    row = next(r for r in response.context["cl"].result_list if r.pk == one_of_each[Catalog].pk)
    assert row.product_count == 1


def test_thresholds_edit_records_who(admin_client, one_of_each, admin_user):
    thresholds = one_of_each[Thresholds]
    response = admin_client.post(
        url(Thresholds, "change", thresholds.pk),
        {"catalog": thresholds.catalog_id, "publish_above": "-0.3", "flag_below": "-1.2", "critical_floor": "-2.0"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    thresholds.refresh_from_db()
    assert (thresholds.publish_above, thresholds.updated_by) == (-0.3, admin_user)


def test_admin_role_staff_user_reaches_admin_but_reviewer_does_not(client, one_of_each):
    roles_ensure()
    admin = UserFactory(is_staff=True)
    admin.groups.add(admin.groups.model.objects.get(name=ADMIN))
    client.force_login(admin)
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(url(Thresholds, "change", one_of_each[Thresholds].pk)).status_code == 200
    assert client.get(url(Token, "changelist")).status_code == 200

    client.force_login(UserFactory())  # not staff
    assert client.get(reverse("admin:index")).status_code == 302


def test_saving_thresholds_in_admin_is_audited_and_regates(admin_client, one_of_each):
    row = one_of_each[Thresholds]
    response = admin_client.post(
        url(Thresholds, "change", row.pk),
        {"catalog": row.catalog_id, "publish_above": "-0.9", "flag_below": "-2.0", "critical_floor": "-2.3"},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.publish_above, row.flag_below) == (-0.9, -2.0)
    event = AuditEvent.objects.get(action="thresholds_changed")
    assert event.before["publish_above"] == -0.4 and event.after["publish_above"] == -0.9


def test_admin_refuses_thresholds_out_of_order(admin_client, one_of_each):
    row = one_of_each[Thresholds]
    response = admin_client.post(
        url(Thresholds, "change", row.pk),
        {"catalog": row.catalog_id, "publish_above": "-3", "flag_below": "-2.0", "critical_floor": "-2.3"},
    )
    assert response.status_code == 200  # the form again, with the error
    row.refresh_from_db()
    assert row.publish_above == -0.4
    assert not AuditEvent.objects.filter(action="thresholds_changed").exists()


def _deleted_events():
    return {e.before["description"]: e for e in AuditEvent.objects.filter(action="description_deleted")}


def test_deleting_a_description_keeps_its_audit_trail_and_records_who_deleted_it(admin_client, admin_user, one_of_each):
    description = one_of_each[Description]
    history = one_of_each[AuditEvent]
    response = admin_client.post(url(Description, "delete", description.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Description.objects.filter(pk=description.pk).exists()
    assert not Token.objects.exists()  # its sentences and tokens go with it
    history.refresh_from_db()
    assert history.description_id is None and history.before == {"status": "queued"}
    deleted = _deleted_events()[description.pk]
    assert deleted.actor == admin_user
    assert deleted.before["sku"] == description.product.sku
    assert deleted.before["catalog"] == description.product.catalog.name


def test_deleting_products_or_a_catalog_records_each_description_deleted(admin_client, one_of_each):
    description = one_of_each[Description]
    catalog = one_of_each[Catalog]
    response = admin_client.post(
        url(Product, "changelist"),
        {"action": "delete_selected", "_selected_action": [description.product_id], "post": "yes"},
    )
    assert response.status_code == 302 and not Product.objects.filter(pk=description.product_id).exists()
    assert set(_deleted_events()) == {description.pk}
    assert AuditEvent.objects.count() == 2  # the history row survives, unlinked

    other = TokenFactory(sentence__description__product__catalog=catalog).description
    assert admin_client.post(url(Catalog, "delete", catalog.pk), {"post": "yes"}).status_code == 302
    assert set(_deleted_events()) == {description.pk, other.pk}
    assert not AuditEvent.objects.filter(catalog__isnull=False).exists()


def test_admin_role_edits_error_categories_and_a_category_in_use_is_not_deleted(client, one_of_each):
    from reviewq.core.models import ErrorCategory

    roles_ensure()
    admin = UserFactory(is_staff=True)
    admin.groups.add(admin.groups.model.objects.get(name=ADMIN))
    client.force_login(admin)
    style = ErrorCategory.objects.get(key="5")
    response = client.post(
        url(ErrorCategory, "change", style.pk),
        {"key": "5", "label": "Style or tone", "counts_as_error": "", "active": "on"},
    )
    assert response.status_code == 302
    style.refresh_from_db()
    assert (style.label, style.counts_as_error) == ("Style or tone", False)
    response = client.post(url(ErrorCategory, "add"), {"key": "6", "label": "Missing fact", "counts_as_error": "on"})
    assert response.status_code == 302 and ErrorCategory.objects.get(key="6").counts_as_error
    refused = client.post(url(ErrorCategory, "add"), {"key": "a", "label": "Letter"})
    assert refused.status_code == 200 and "key" in refused.context["adminform"].form.errors

    sentence = one_of_each[Sentence]
    Sentence.objects.filter(pk=sentence.pk).update(decision="rejected", decided_at=timezone.now(), error_category=style)
    response = client.post(url(ErrorCategory, "delete", style.pk), {"post": "yes"})
    assert response.status_code == 200 and "Cannot delete error category" in response.content.decode()
    assert ErrorCategory.objects.filter(pk=style.pk).exists()
