import pytest
from django.urls import reverse
from django.utils import timezone

from reviewq.core.models import DescriptionStatus
from reviewq.core.roles import REVIEWER, roles_ensure
from reviewq.core.selectors import catalog_overview_list
from tests.factories import CatalogFactory, DescriptionFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

S = DescriptionStatus


def describe(product, status):
    extra = {}
    if status == S.PUBLISHED:
        extra["published_at"] = timezone.now()
    if status == S.FAILED:
        extra["error"] = "provider timed out"
    return DescriptionFactory(product=product, status=status, **extra)


@pytest.fixture
def two_catalogs():
    kitchen = CatalogFactory(name="Kitchen")
    for status in (S.QUEUED, S.REVIEW, S.REVIEW, S.PUBLISHED, S.FAILED):
        describe(ProductFactory(catalog=kitchen), status)
    ProductFactory.create_batch(2, catalog=kitchen)  # not generated yet
    outdoor = CatalogFactory(name="Outdoor")
    describe(ProductFactory(catalog=outdoor), S.PUBLISHED)
    CatalogFactory(name="Empty")
    return kitchen, outdoor


def test_catalog_overview_counts_products_and_statuses_in_one_query(two_catalogs, django_assert_num_queries):
    with django_assert_num_queries(1):
        overviews = catalog_overview_list()

    by_name = {o.catalog.name: o for o in overviews}
    assert [o.catalog.name for o in overviews] == ["Empty", "Kitchen", "Outdoor"]
    kitchen = by_name["Kitchen"]
    assert kitchen.product_count == 7
    assert kitchen.not_generated == 2
    assert {c.status: c.count for c in kitchen.status_counts} == {
        "queued": 1,
        "generating": 0,
        "review": 2,
        "published": 1,
        "rejected": 0,
        "failed": 1,
        "cancelled": 0,
    }
    assert [c.label for c in kitchen.status_counts] == [label for value, label in S.choices if value != S.ARCHIVED]
    outdoor = by_name["Outdoor"]
    assert (outdoor.product_count, outdoor.not_generated) == (1, 0)
    assert {c.status: c.count for c in outdoor.status_counts}["published"] == 1
    empty = by_name["Empty"]
    assert (empty.product_count, empty.not_generated) == (0, 0)
    assert all(c.count == 0 for c in empty.status_counts)


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_login_page_is_public_and_carries_csrf_header_and_htmx(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<body hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_home_shows_catalog_counts_and_the_logprob_note(client, two_catalogs):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Scores are token probabilities, not truth." in html
    assert "Kitchen" in html and "Outdoor" in html
    overview = {o.catalog.name: o for o in response.context["overviews"]}
    assert overview["Kitchen"].product_count == 7
    for label in S.labels:
        assert f'<th scope="col" class="num">{label}</th>' in html


def test_home_without_catalogs_says_how_to_get_one(client):
    client.force_login(UserFactory())
    html = client.get("/").content.decode()
    assert "No catalogs yet." in html


def test_admin_link_only_for_staff(client):
    client.force_login(UserFactory())
    assert reverse("admin:index") not in client.get("/").content.decode()
    client.force_login(UserFactory(is_staff=True))
    assert reverse("admin:index") in client.get("/").content.decode()


def test_logout_is_post_only(client):
    client.force_login(UserFactory())
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # logged out again


def test_login_with_demo_style_user_reaches_home(client):
    UserFactory(username="reviewer", password="Sup3r-secret-pw")
    response = client.post(reverse("login"), {"username": "reviewer", "password": "Sup3r-secret-pw"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_queue_link_only_for_users_who_may_review(client):
    roles_ensure()
    client.force_login(UserFactory())
    assert f'href="{reverse("queue")}"' not in client.get("/").content.decode()
    reviewer = UserFactory()
    reviewer.groups.add(reviewer.groups.model.objects.get(name=REVIEWER))
    client.force_login(reviewer)
    assert f'href="{reverse("queue")}"' in client.get("/").content.decode()
