import pytest
from django.core.cache import cache
from django.urls import reverse

from reviewq.core.audit import AuditAction
from reviewq.core.models import Assignment, AuditEvent
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.reviewq.editor_data import role_user
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db
ASSIGN = reverse("queue_assign")


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


@pytest.fixture
def rita():
    return role_user("reviewer")


@pytest.fixture
def editor_client(client):
    client.force_login(role_user("editor"))
    return client


def _assigned():
    return set(Assignment.objects.values_list("description_id", "reviewer_id"))


def test_reviewer_may_not_assign(client, rita):
    description = make_review_description()
    client.force_login(rita)
    response = client.post(
        ASSIGN, {"assign": "selected", "selected": [description.pk], "reviewers": [rita.pk], "confirm": "1"}
    )
    assert response.status_code == 403
    assert not Assignment.objects.exists()


def test_queue_shows_the_assign_bar_to_editors_only(client, editor_client, rita):
    make_review_description()
    page = editor_client.get(reverse("queue")).content.decode()
    assert 'name="assign" value="selected"' in page and f'value="{rita.pk}">{rita.username}<' in page
    client.force_login(rita)
    assert 'name="assign"' not in client.get(reverse("queue")).content.decode()


def test_assign_selected_asks_then_assigns_and_the_row_shows_the_assignee(editor_client, rita):
    first, second = make_review_description(risk=0.9), make_review_description(risk=0.5)
    data = {"assign": "selected", "selected": [first.pk, second.pk], "reviewers": [rita.pk], "per_item": "1"}
    asked = editor_client.post(ASSIGN, data)
    assert asked.status_code == 200 and b"Assign 2" in asked.content
    assert not Assignment.objects.exists()
    done = editor_client.post(ASSIGN, {**data, "confirm": "1"})
    assert done.status_code == 302
    assert _assigned() == {(first.pk, rita.pk), (second.pk, rita.pk)}
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_ASSIGNED).count() == 2
    row = editor_client.get(reverse("queue")).content.decode()
    assert f'<td class="assignees">{rita.username}</td>' in row


def test_assign_the_filter_and_the_whole_catalog(editor_client, rita):
    catalog = CatalogFactory()
    risky = make_review_description(product=ProductFactory(catalog=catalog), risk=0.9)
    calm = make_review_description(product=ProductFactory(catalog=catalog), risk=0.1)
    elsewhere = make_review_description()
    base = {"catalog": catalog.pk, "band": "flag", "reviewers": [rita.pk], "confirm": "1"}
    calm.sentences.update(band="publish")
    editor_client.post(ASSIGN, {**base, "assign": "filter"})
    assert _assigned() == {(risky.pk, rita.pk)}
    editor_client.post(ASSIGN, {**base, "assign": "catalog"})
    assert _assigned() == {(risky.pk, rita.pk), (calm.pk, rita.pk)}
    assert elsewhere.assignments.count() == 0


def test_unassign_selected(editor_client, rita):
    description = make_review_description()
    editor_client.post(
        ASSIGN, {"assign": "selected", "selected": [description.pk], "reviewers": [rita.pk], "confirm": "1"}
    )
    editor_client.post(ASSIGN, {"assign": "unassign", "selected": [description.pk], "confirm": "1"})
    assert not Assignment.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_UNASSIGNED, description=description).count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"assign": "selected"}, "Select at least one description."),
        ({"assign": "catalog"}, "Choose a catalog in the filters first."),
        ({"assign": "filter"}, "Choose at least one reviewer to assign to."),
        ({"assign": "filter", "per_item": "2", "reviewers": ["rita"]}, "2 reviewers per item needs at least 2"),
    ],
)
def test_what_cannot_be_done_is_said_on_the_queue_and_writes_nothing(editor_client, rita, data, message):
    make_review_description()
    if data.get("reviewers"):
        data = {**data, "reviewers": [rita.pk]}
    response = editor_client.post(ASSIGN, {**data, "confirm": "1"}, follow=True)
    assert message in response.content.decode()
    assert not Assignment.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("assign", "everyone"), ("per_item", "6"), ("per_item", "0"), ("reviewers", "999999"), ("selected", "x")],
)
def test_bad_input_is_a_form_error(editor_client, rita, field, value):
    description = make_review_description()
    data = {"assign": "selected", "selected": [description.pk], "reviewers": [rita.pk], "confirm": "1", field: value}
    response = editor_client.post(ASSIGN, data)
    assert response.status_code == 400 and field in response.content.decode()
    assert not Assignment.objects.exists()


def test_a_user_without_a_role_cannot_be_assigned(editor_client):
    nobody = UserFactory(username="nobody")
    description = make_review_description()
    data = {"assign": "selected", "selected": [description.pk], "reviewers": [nobody.pk], "confirm": "1"}
    assert editor_client.post(ASSIGN, data).status_code == 400


def test_assigned_filter_is_kept_by_next(client, editor_client, rita):
    low, high = make_review_description(risk=0.1), make_review_description(risk=0.9)
    editor_client.post(ASSIGN, {"assign": "selected", "selected": [low.pk], "reviewers": [rita.pk], "confirm": "1"})
    client.force_login(rita)
    page = client.get(reverse("queue"), {"assigned": "1"}).content.decode()
    assert f'data-id="{low.pk}"' in page and f'data-id="{high.pk}"' not in page
    response = client.post(reverse("queue_next"), {"assigned": "1"})
    assert response["Location"] == reverse("review", args=[low.pk]) + "?assigned=1"
    assert client.post(reverse("queue_next"), {"assigned": "1", "current": low.pk})["Location"].startswith(
        reverse("queue")
    )
