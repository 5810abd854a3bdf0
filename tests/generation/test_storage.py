"""completion_store: the gate's outcome decides the description's status end to end."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generation.queueing import description_claim_for_generation
from generation.storage import completion_store
from generation.types import Alternative, Completion, TokenResult
from reviewq.core.audit import AuditAction
from reviewq.core.bulk import is_postgres
from reviewq.core.models import AuditEvent, Catalog, Description, DescriptionStatus, QASample, Sentence, Token
from reviewq.gating.service import thresholds_update
from tests.factories import DescriptionFactory

pytestmark = pytest.mark.django_db
S = DescriptionStatus
PIECES = re.compile(r" ?[^\W\d_]+| ?\d+| ?[^\w\s]|\s+")


def _completion(text, logprob=-0.05, low=None):
    """Tokens as a BPE tokenizer would cut `text`; `low` maps a token's text to its logprob."""
    low = low or {}
    tokens = []
    for piece in PIECES.findall(text):
        lp = low.get(piece.strip(), logprob)
        tokens.append(TokenResult(piece, piece.encode(), lp, (Alternative(piece, lp), Alternative(" other", -4.0))))
    assert "".join(t.text for t in tokens) == text
    return Completion(
        text=text, tokens=tuple(tokens), finish_reason="stop", model="m", provider="test", completion_tokens=len(tokens)
    )


@pytest.fixture
def claimed():
    description = DescriptionFactory(
        product__name="Trail bottle",
        product__attributes={"capacity": "750 ml", "colour": "blue", "material": "stainless steel"},
    )
    return description_claim_for_generation(product_id=description.product_id, lease_seconds=60)


TEXT = "This blue bottle holds 750 ml. It is made of stainless steel. It keeps your drink close on every walk."


def test_a_confident_grounded_description_is_published_automatically(claimed):
    stored = completion_store(
        description=claimed, completion=_completion(TEXT), prompt="p", claim_version=claimed.version
    )
    assert stored.status == S.PUBLISHED and stored.published_at is not None
    assert set(Sentence.objects.filter(description=stored).values_list("band", flat=True)) == {"publish"}
    event = AuditEvent.objects.get(description=stored, action="generated")
    assert event.after["status"] == S.PUBLISHED and event.actor is None


def test_an_auto_published_description_is_drawn_for_qa_at_its_catalogs_rate(claimed):
    Catalog.objects.filter(pk=claimed.product.catalog_id).update(qa_rate_auto=1.0)
    stored = completion_store(
        description=claimed, completion=_completion(TEXT), prompt="p", claim_version=claimed.version
    )
    sample = QASample.objects.get(description=stored)
    assert (sample.reason, sample.rate, sample.first_reviewer) == ("auto", 1.0, None)
    assert AuditEvent.objects.filter(description=stored, action=AuditAction.QA_SAMPLED).count() == 1


def test_a_contradicted_attribute_sends_it_to_review_with_the_reason(claimed):
    text = TEXT.replace("750 ml", "900 ml")
    stored = completion_store(
        description=claimed, completion=_completion(text, low={"900": -3.2}), prompt="p", claim_version=claimed.version
    )
    assert stored.status == S.REVIEW and stored.published_at is None
    flagged = Sentence.objects.get(description=stored, index=0)
    assert flagged.band == "flag" and flagged.hard_flag
    assert any("900" in reason and "750" in reason for reason in flagged.reasons)


def test_a_result_for_review_does_not_look_for_live_copies(claimed):
    # Only a result that would publish can be held back by a live copy: the others skip the query.
    text = TEXT.replace("750 ml", "900 ml")
    with CaptureQueriesContext(connection) as queries:
        stored = completion_store(
            description=claimed,
            completion=_completion(text, low={"900": -3.2}),
            prompt="p",
            claim_version=claimed.version,
        )
    assert stored.status == S.REVIEW
    live_lookups = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "'published'" in q["sql"]]
    assert live_lookups == []


def test_stricter_thresholds_at_generation_time_keep_it_in_review(claimed):
    thresholds_update(catalog=None, publish_above=-0.01, flag_below=-1.5, critical_floor=-2.3)
    stored = completion_store(
        description=claimed, completion=_completion(TEXT), prompt="p", claim_version=claimed.version
    )
    assert stored.status == S.REVIEW


def test_a_result_from_a_lost_claim_is_refused_and_writes_nothing(claimed):
    from reviewq.core.transitions import ConflictError

    Description.objects.filter(pk=claimed.pk).update(version=claimed.version + 1)  # reclaimed elsewhere
    with pytest.raises(ConflictError):
        completion_store(description=claimed, completion=_completion(TEXT), prompt="p", claim_version=claimed.version)
    assert not Sentence.objects.filter(description=claimed).exists()
    assert Description.objects.get(pk=claimed.pk).status == S.GENERATING


@pytest.mark.parametrize("rows_in_statement", [1000, 1])  # 1: every table's rows by COPY after the UPDATE
def test_many_completions_are_stored_together_and_a_lost_claim_only_drops_its_own(monkeypatch, rows_in_statement):
    import reviewq.core.bulk
    from generation.storage import StoreRequest, completions_store
    from reviewq.core.models import Token
    from reviewq.core.transitions import ConflictError

    descriptions = [
        description_claim_for_generation(
            product_id=DescriptionFactory(product__attributes={"capacity": "750 ml"}).product_id, lease_seconds=60
        )
        for _ in range(3)
    ]
    lost = descriptions[1]
    Description.objects.filter(pk=lost.pk).update(version=lost.version + 1)  # reclaimed elsewhere
    monkeypatch.setattr(reviewq.core.bulk, "ROWS_IN_STATEMENT", rows_in_statement)
    texts = [TEXT, "It holds 750 ml.", "A second bottle. It holds 750 ml."]
    results = completions_store(
        [
            StoreRequest(description=d, completion=_completion(text), prompt="p", claim_version=d.version)
            for d, text in zip(descriptions, texts, strict=True)
        ]
    )
    assert isinstance(results[1], ConflictError)
    assert (
        not Sentence.objects.filter(description=lost).exists() and not Token.objects.filter(description=lost).exists()
    )
    for description, text in ((results[0], texts[0]), (results[2], texts[2])):
        assert description.status in (S.REVIEW, S.PUBLISHED) and description.text == text
        sentences = list(Sentence.objects.filter(description=description).order_by("index"))
        assert "".join(s.text for s in sentences) == text
        tokens = Token.objects.filter(description=description).order_by("position").select_related("sentence")
        assert "".join(t.text for t in tokens) == text
        # Every token points at the sentence that holds it.
        assert all(t.sentence.char_start <= t.char_start < t.sentence.char_end for t in tokens if t.text.strip())


def test_a_regenerated_description_replaces_its_sentences_and_tokens(claimed):
    from reviewq.core.models import Token
    from reviewq.core.transitions import description_transition

    first = completion_store(
        description=claimed, completion=_completion(TEXT), prompt="p", claim_version=claimed.version
    )
    if first.status == S.PUBLISHED:  # auto-published: a regeneration writes a new draft beside it
        first = Description.objects.create(
            product_id=first.product_id, status=S.REVIEW, text="old", generated_at=first.generated_at
        )
        first.sentences.create(index=0, char_start=0, char_end=3, text="old")
    description_transition(description=first, to_status=S.QUEUED, action=AuditAction.GENERATION_QUEUED)
    again = description_claim_for_generation(product_id=first.product_id, lease_seconds=60)
    second = completion_store(
        description=again, completion=_completion("It holds 750 ml."), prompt="p", claim_version=again.version
    )
    assert list(Sentence.objects.filter(description=second).values_list("text", flat=True)) == ["It holds 750 ml."]
    assert "".join(Token.objects.filter(description=second).order_by("position").values_list("text", flat=True)) == (
        "It holds 750 ml."
    )


@pytest.mark.skipif(not is_postgres(), reason="the statements are PostgreSQL's (UPDATE ... FROM ... RETURNING)")
def test_storing_a_result_for_review_is_two_statements(claimed, monkeypatch):
    """Per description (docs/PERFORMANCE.md, issue 16): the gate's config, then the status change
    with its audit row, sentences and tokens in one statement (no COPY: each is two round trips
    more; the sentence ids come from those the process drew ahead), which is its own
    transaction: no savepoint here, so no BEGIN/COMMIT outside a test's transaction."""
    import reviewq.core.bulk

    reviewq.core.bulk.ids_reserve(Sentence, 1)  # this process has ids drawn ahead

    def no_copy(*args, **kwargs):
        raise AssertionError("a first result's rows go in with its status change, not by COPY")

    monkeypatch.setattr(reviewq.core.bulk, "rows_insert", no_copy)
    monkeypatch.setattr("generation.storage.rows_insert", no_copy)
    version = claimed.version
    with CaptureQueriesContext(connection) as queries:
        stored = completion_store(
            description=claimed,
            completion=_completion(TEXT, low={"walk": -6.0}),
            prompt="p",
            claim_version=claimed.version,
        )
    assert stored.status == S.REVIEW
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements == ["SELECT", "WITH"], statements
    assert Sentence.objects.filter(description=stored).count() == 3
    assert Token.objects.filter(description=stored).count() == len(_completion(TEXT).tokens)
    event = AuditEvent.objects.get(description=stored, action=AuditAction.GENERATED)
    assert (event.before, event.after["status"], event.after["risk"]) == (
        {"status": S.GENERATING, "version": version},
        S.REVIEW,
        stored.risk,
    )


def test_other_candidates_give_each_stored_sentence_its_agreement(claimed):
    others = (
        "A blue bottle of 750 ml, made of stainless steel.",
        "This stainless steel bottle holds 750 ml and comes in blue.",
    )
    text = TEXT.replace("750 ml", "900 ml")
    stored = completion_store(
        description=claimed,
        completion=_completion(text),
        prompt="p",
        claim_version=claimed.version,
        other_candidates=others,
    )
    first, second, third = Sentence.objects.filter(description=stored).order_by("index")
    assert first.signals["n_samples"] == 2 and first.signals["n_values_alone"] == 1
    assert "'900 ml' stated by this sample only, by none of the 2 other samples" in first.reasons
    assert second.signals["sample_support"] == pytest.approx(1.0)
    assert third.signals["sample_support"] < 0.5
    assert any(reason.startswith("samples disagree:") for reason in third.reasons)


def test_one_candidate_stores_no_agreement(claimed):
    stored = completion_store(
        description=claimed, completion=_completion(TEXT), prompt="p", claim_version=claimed.version
    )
    signals = Sentence.objects.filter(description=stored).first().signals
    assert (signals["n_samples"], signals["sample_support"], signals["n_values_alone"]) == (0, None, None)


def _stored_rows(description):
    """What storing wrote for `description`, without its ids."""
    sentences = list(
        Sentence.objects.filter(description=description)
        .order_by("index")
        .values(*(f.attname for f in Sentence._meta.concrete_fields if f.attname not in ("id", "description_id")))
    )
    tokens = [
        {**row, "bytes": bytes(row["bytes"])}
        for row in Token.objects.filter(description=description)
        .order_by("position")
        .values(
            "sentence__index",
            *(
                f.attname
                for f in Token._meta.concrete_fields
                if f.attname not in ("id", "description_id", "sentence_id")
            ),
        )
    ]
    return sentences, tokens


def test_rows_in_the_status_change_are_the_rows_copy_writes():
    """A first result's sentences and tokens go in with its status change (a JSON parameter on
    PostgreSQL), a regenerated one's by COPY: the same completion gives the same rows either way,
    down to -0.0, None and tiny logprobs, quotes, backslashes, tabs and bytes that are not UTF-8."""
    text = 'It\'s "blue" \\ 750 ml, caf\u00e9 \U0001f375.\tIt keeps cold.'
    pieces = PIECES.findall(text)
    odd = {1: -0.0, 2: None, 3: -1e-300, 4: -123.456789012345678}
    tokens = tuple(
        TokenResult(
            piece,
            b"\xff\x00" if i == 5 else piece.encode(),
            odd.get(i, -0.05),
            (Alternative(piece, odd.get(i, -0.05) or 0.0), Alternative(' "\\ o\u00e9', -4.0000000000000001)),
        )
        for i, piece in enumerate(pieces)
    )
    completion = Completion(
        text=text, tokens=tokens, finish_reason="stop", model="m", provider="test", completion_tokens=len(tokens)
    )
    product = {"name": "Trail bottle", "attributes": {"capacity": "750 ml", "colour": "blue"}}
    first, again = (
        DescriptionFactory(product__name=product["name"], product__attributes=product["attributes"]) for _ in range(2)
    )
    Description.objects.filter(pk=again.pk).update(
        generated_at=first.created_at
    )  # generated before: its rows are replaced
    stored = []
    for description in (first, again):
        claimed = description_claim_for_generation(product_id=description.product_id, lease_seconds=60)
        stored.append(
            completion_store(description=claimed, completion=completion, prompt="p", claim_version=claimed.version)
        )
    inline, copied = (_stored_rows(d) for d in stored)
    assert inline == copied
    sentences, token_rows = inline
    assert "".join(s["text"] for s in sentences) == text and len(token_rows) == len(pieces)
    assert [t["logprob"] for t in token_rows[1:5]] == [-0.0, None, -1e-300, -123.456789012345678]
    assert token_rows[5]["bytes"] == b"\xff\x00"
    if is_postgres():  # SQLite keeps no negative zero
        assert str(token_rows[1]["logprob"]) == "-0.0"
