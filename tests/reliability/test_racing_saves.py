"""Racing saves of one sentence: concurrent clients (threads, each with its own database
connection) all try to save the version they read. Exactly one save per version wins; every
loser gets ConflictError (HTTP 409); the version and the audit log count every win once."""

import threading
from collections import Counter

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse

from reviewq.core.models import AuditEvent, Description, Sentence
from reviewq.core.roles import REVIEWER, roles_ensure
from reviewq.core.transitions import ConflictError
from reviewq.review.claims import description_review_claim
from reviewq.review.sentences import sentence_edit
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CLIENTS = 8


def _setup():
    roles_ensure()
    reviewer = UserFactory(username="racer")
    reviewer.groups.add(Group.objects.get(name=REVIEWER))
    description = make_review_description()
    description_review_claim(description=description, reviewer=reviewer)
    description.refresh_from_db()
    return reviewer, description


def _race(*, rounds: int, save) -> tuple[Counter, list[int], list[str]]:
    """`rounds` rounds; in each, every client reads the current version, waits for the others,
    then saves. Returns outcome counts, the number of winners per round and unexpected errors."""
    barrier = threading.Barrier(CLIENTS)
    outcomes: Counter = Counter()
    winners = [0] * rounds
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int):
        try:
            for r in range(rounds):
                version = Description.objects.values_list("version", flat=True).get(pk=save.description_id)
                barrier.wait(timeout=60)
                outcome = save(n=n, round_=r, version=version)
                with lock:
                    outcomes[outcome] += 1
                    winners[r] += outcome == "saved"
                barrier.wait(timeout=60)  # nobody reads the next version before the round is over
        except threading.BrokenBarrierError:
            pass
        except Exception as exc:
            with lock:
                errors.append(f"client {n}: {type(exc).__name__}: {exc}")
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return outcomes, winners, errors


def _assert_no_lost_update(description, sentence, outcomes, winners, errors, attempts, start_version, last_texts):
    assert errors == []
    assert sum(outcomes.values()) == attempts
    assert set(outcomes) <= {"saved", "conflict"}, outcomes
    assert winners == [1] * len(winners)  # one winner per version: a second one would be a lost update
    description.refresh_from_db()
    sentence.refresh_from_db()
    assert description.version == start_version + outcomes["saved"]
    assert AuditEvent.objects.filter(description=description, action="sentence_edited").count() == outcomes["saved"]
    assert sentence.edited_text.strip() in last_texts
    print(
        f"{attempts} racing saves from {CLIENTS} clients: {outcomes['saved']} saved, "
        f"{outcomes['conflict']} conflicts, final version {description.version}"
    )


def test_1000_racing_saves_through_the_service():
    reviewer, description = _setup()
    sentence = Sentence.objects.get(description=description, index=1)
    start = description.version
    last_texts = set()

    def save(*, n, round_, version):
        text = f"It holds {round_} ml, says client {n}."
        try:
            sentence_edit(
                sentence=Sentence.objects.get(pk=sentence.pk), reviewer=reviewer, text=text, expected_version=version
            )
        except ConflictError:
            return "conflict"
        if round_ == rounds - 1:
            last_texts.add(text)
        return "saved"

    save.description_id = description.pk
    rounds = 1000 // CLIENTS
    outcomes, winners, errors = _race(rounds=rounds, save=save)
    _assert_no_lost_update(description, sentence, outcomes, winners, errors, rounds * CLIENTS, start, last_texts)
    assert outcomes["saved"] == rounds and outcomes["conflict"] == rounds * (CLIENTS - 1)


def test_racing_saves_over_http_get_409():
    reviewer, description = _setup()
    sentence = Sentence.objects.get(description=description, index=2)
    start = description.version
    url = reverse("review_sentence", args=[description.pk, 2])
    clients = {}
    last_texts = set()

    def save(*, n, round_, version):
        if n not in clients:
            clients[n] = Client()
            clients[n].force_login(reviewer)
        text = f"The finish is colour {round_} from client {n}."
        response = clients[n].post(url, {"action": "edit", "text": text, "version": version})
        if response.status_code == 409:
            assert "changed this description" in response.content.decode()
            return "conflict"
        assert response.status_code == 302, response.status_code
        if round_ == rounds - 1:
            last_texts.add(text)
        return "saved"

    save.description_id = description.pk
    rounds = 200 // CLIENTS
    outcomes, winners, errors = _race(rounds=rounds, save=save)
    _assert_no_lost_update(description, sentence, outcomes, winners, errors, rounds * CLIENTS, start, last_texts)
