"""The whole path product -> task -> provider (fake server over HTTP, real SDK) -> aligned,
gated, stored tokens; each provider outcome ends in a clear stored state."""

import pytest

from generation.tasks import generate_description_task, generate_descriptions_task, retry_countdown
from reviewq.core.models import AuditEvent, Description, DescriptionStatus, Sentence, Token
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)
S = DescriptionStatus


@pytest.fixture
def openai_settings(openai_settings):
    openai_settings.LLM_TIMEOUT = 1.0  # the scripted timeouts end sooner
    return openai_settings


def _queued_product(**attrs):
    product = ProductFactory(**attrs)
    Description.objects.create(product=product)
    return product


def _run(product):
    return generate_description_task.apply(args=[product.pk]).get()


def assert_stored_consistently(description):
    tokens = list(Token.objects.filter(description=description).order_by("position"))
    sentences = list(Sentence.objects.filter(description=description).order_by("index"))
    assert "".join(t.text for t in tokens) == description.text
    assert b"".join(bytes(t.bytes) for t in tokens).decode("utf-8") == description.text
    assert "".join(s.text for s in sentences) == description.text
    for sentence in sentences:
        own = [t for t in tokens if t.sentence_id == sentence.pk]
        assert "".join(t.text for t in own) == sentence.text
        assert sentence.char_start == (own[0].char_start if own else sentence.char_start)
    assert all(t.alternatives for t in tokens if t.logprob is not None)
    return tokens, sentences


def test_product_is_generated_stored_aligned_and_gated(openai_settings, fake_openai):
    product = _queued_product(name="Alpine steel bottle")
    assert _run(product) in (S.REVIEW, S.PUBLISHED)
    description = Description.objects.get(product=product)
    assert description.provider == "openai" and description.model
    assert description.finish_reason == "stop" and description.has_logprobs
    assert description.completion_tokens > 0 and description.risk is not None
    tokens, sentences = assert_stored_consistently(description)
    assert len(sentences) >= 2
    assert any(len(t.alternatives) == 5 for t in tokens)
    assert all(s.mean_logprob is not None and s.band in ("publish", "review", "flag") for s in sentences)
    # A multi-byte character split across tokens (the fake server's flavour sentence) reassembles.
    assert any(len(bytes(t.bytes)) and bytes(t.bytes).decode("utf-8", "replace") != t.text for t in tokens) or all(
        ord(c) < 128 for c in description.text
    )
    assert list(AuditEvent.objects.filter(description=description).values_list("action", flat=True)) == [
        "generated",
        "generation_claimed",
    ]


def test_duplicate_delivery_does_nothing_the_second_time(openai_settings, fake_openai):
    product = _queued_product()
    _run(product)
    requests = fake_openai.requests_total
    before = Description.objects.get(product=product)
    assert _run(product) == "skipped"
    after = Description.objects.get(product=product)
    assert fake_openai.requests_total == requests
    assert (after.version, after.status, after.text) == (before.version, before.status, before.text)
    assert Token.objects.filter(description=after).count() == Token.objects.filter(description=before).count()


def test_rate_limits_and_server_errors_are_retried_then_stored(openai_settings, fake_openai):
    product = _queued_product()
    fake_openai.script("rate_limit", "server_error", "timeout")
    assert _run(product) in (S.REVIEW, S.PUBLISHED)
    description = Description.objects.get(product=product)
    assert description.attempts == 4
    assert description.error == "" and description.error_code == ""
    assert AuditEvent.objects.filter(description=description, action="generation_retry").count() == 3
    assert_stored_consistently(description)


def test_gives_up_after_max_attempts_with_the_error_stored(openai_settings, fake_openai):
    openai_settings.GENERATION_MAX_ATTEMPTS = 2
    product = _queued_product()
    fake_openai.script("unavailable", "unavailable", "unavailable")
    assert _run(product) == S.FAILED
    description = Description.objects.get(product=product)
    assert description.status == S.FAILED and description.attempts == 2
    assert description.error_code == "server_error"
    assert description.error.startswith("Gave up after 2 attempts")
    assert not Token.objects.filter(description=description).exists()


def test_logprobs_refused_fails_at_once_with_a_clear_reason(openai_settings, fake_openai):
    product = _queued_product()
    fake_openai.script("logprobs_refused")
    assert _run(product) == S.FAILED
    description = Description.objects.get(product=product)
    assert (description.error_code, description.attempts) == ("logprobs_refused", 1)
    assert "logprobs" in description.error.lower()


def test_missing_logprobs_is_stored_and_sent_to_review(openai_settings, fake_openai):
    product = _queued_product()
    fake_openai.script("no_logprobs")
    assert _run(product) == S.REVIEW
    description = Description.objects.get(product=product)
    assert description.has_logprobs is False and description.text
    assert not Token.objects.filter(description=description).exists()
    sentences = list(Sentence.objects.filter(description=description))
    assert sentences and all(s.band == "review" and s.mean_logprob is None for s in sentences)
    assert all("no logprobs from the provider" in s.reasons for s in sentences)
    assert "".join(s.text for s in sentences) == description.text


def test_placeholder_logprobs_are_clipped_not_stored_as_minus_9999(openai_settings, fake_openai):
    product = _queued_product()
    fake_openai.script("placeholder")
    _run(product)
    description = Description.objects.get(product=product)
    tokens, _ = assert_stored_consistently(description)
    assert min(t.logprob for t in tokens) > -9999.0
    assert all(lp >= -100.0 for t in tokens for _, lp in t.alternatives)


def test_truncated_output_is_stored_and_its_last_sentence_flagged(openai_settings, fake_openai):
    product = _queued_product()
    fake_openai.script("length")
    assert _run(product) == S.REVIEW
    description = Description.objects.get(product=product)
    assert description.finish_reason == "length"
    last = Sentence.objects.filter(description=description).order_by("-index").first()
    assert last.band == "flag" and last.hard_flag
    assert any(reason.startswith("cut off") for reason in last.reasons)


def test_content_filter_stop_fails_with_the_reason(openai_settings, fake_openai):
    product = _queued_product()
    fake_openai.script("content_filter")
    assert _run(product) == S.FAILED
    description = Description.objects.get(product=product)
    assert description.error_code == "content_filter"
    assert "content filter" in description.error


def test_bad_catalog_template_fails_without_calling_the_provider(openai_settings, fake_openai):
    product = _queued_product()
    product.catalog.prompt_template = "Describe {nme}"
    product.catalog.save()
    assert _run(product) == S.FAILED
    description = Description.objects.get(product=product)
    assert description.error_code == "configuration" and "nme" in description.error
    assert fake_openai.requests_total == 0


def test_regeneration_replaces_sentences_and_tokens(openai_settings, fake_openai):
    from generation.queueing import product_generate

    product = _queued_product()
    _run(product)
    first = Description.objects.get(product=product)
    first_tokens = Token.objects.filter(description=first).count()
    assert product_generate(product=product) is True
    assert product_generate(product=product) is False  # already queued: no duplicate work
    _run(product)
    second = Description.objects.get(product=product)
    assert second.pk == first.pk and second.version > first.version
    assert Token.objects.filter(description=second).count() == len(
        Token.objects.filter(description=second).values("position").distinct()
    )
    assert first_tokens > 0
    assert_stored_consistently(second)


def test_retry_countdown_honours_retry_after_and_backs_off_with_jitter():
    assert 7.0 <= retry_countdown(attempt=1, retry_after=7.0) <= 8.0
    samples = [retry_countdown(attempt=5, retry_after=None) for _ in range(200)]
    assert min(samples) >= 0 and max(samples) <= 2.0 * 2**4
    assert len({round(s, 3) for s in samples}) > 50  # jittered, not a fixed delay
    assert max(retry_countdown(attempt=40, retry_after=None) for _ in range(50)) <= 300.0


@pytest.mark.slow
def test_embedded_model_generates_a_product_end_to_end(settings, fresh_providers):
    settings.LLM_PROVIDER = "embedded"
    settings.LLM_MAX_TOKENS = 48
    settings.LLM_TEMPERATURE = 0.0
    settings.REDIS_URL = ""
    product = _queued_product(name="Trail running shoe", attributes={"colour": "red", "weight": "280 g"})
    assert _run(product) in (S.REVIEW, S.PUBLISHED)
    description = Description.objects.get(product=product)
    assert description.provider == "embedded" and description.has_logprobs
    tokens, _sentences = assert_stored_consistently(description)
    assert len(tokens) == description.completion_tokens
    assert all(t.logprob <= 0 and len(t.alternatives) == 5 for t in tokens)


# --- chunks: a bulk run's generate_descriptions task ------------------------------------------


def _run_chunk(products):
    return generate_descriptions_task.apply(args=[[p.pk for p in products]]).get()


def _claims_spied(monkeypatch):
    """The set-based claims a chunk makes: how many rows each took."""
    from generation import services

    claimed, claim = [], services.descriptions_claim_for_generation

    def spy(**kwargs):
        rows = claim(**kwargs)
        claimed.append(len(rows))
        return rows

    monkeypatch.setattr(services, "descriptions_claim_for_generation", spy)
    return claimed


def test_a_chunk_claims_together_calls_at_once_and_stores_each(openai_settings, fake_openai, monkeypatch):
    fake_openai.latency = 0.5
    products = [_queued_product() for _ in range(6)]
    claimed = _claims_spied(monkeypatch)
    counts = _run_chunk(products)
    assert sum(counts.values()) == 6 and set(counts) <= {S.REVIEW, S.PUBLISHED}
    descriptions = list(Description.objects.filter(product__in=products))
    assert all(d.status in (S.REVIEW, S.PUBLISHED) and d.attempts == 1 for d in descriptions)
    for description in descriptions:
        assert_stored_consistently(description)
    # One set-based claim of all six (an audit row each), and the calls in flight together.
    assert claimed == [6]
    assert AuditEvent.objects.filter(description__in=descriptions, action="generation_claimed").count() == 6
    assert fake_openai.requests_total == 6 and fake_openai.max_in_flight >= 3  # one by one: 1


def test_a_redelivered_chunk_claims_only_what_is_still_claimable(openai_settings, fake_openai):
    from generation.queueing import product_generate

    products = [_queued_product() for _ in range(4)]
    _run_chunk(products)
    before = {d.pk: (d.version, d.text) for d in Description.objects.filter(product__in=products)}
    assert product_generate(product=products[2]) is True  # one product queued again
    counts = _run_chunk(products)
    assert counts.get("skipped") == 3 and sum(counts.values()) == 4
    assert fake_openai.requests_total == 5
    after = {d.pk: (d.version, d.text) for d in Description.objects.filter(product__in=products)}
    changed = [pk for pk in before if before[pk] != after[pk]]
    assert changed == [Description.objects.get(product=products[2]).pk]


def test_a_transient_error_in_a_chunk_retries_that_product_alone(openai_settings, fake_openai, celery_eager):
    products = [_queued_product() for _ in range(4)]
    fake_openai.script("rate_limit")  # whichever call comes first
    counts = _run_chunk(products)
    assert counts.get("retry") == 1 and sum(counts.values()) == 4
    descriptions = Description.objects.filter(product__in=products)
    # The retry (sent at once, run eagerly here) stored it; only that product was claimed twice.
    assert all(d.status in (S.REVIEW, S.PUBLISHED) for d in descriptions)
    assert sorted(d.attempts for d in descriptions) == [1, 1, 1, 2]
    retried = AuditEvent.objects.filter(description__in=descriptions, action="generation_retry")
    assert retried.count() == 1 and retried.get().description.attempts == 2
    assert fake_openai.requests_total == 5


def test_a_chunk_fails_a_bad_template_and_a_refused_call_and_stores_the_rest(openai_settings, fake_openai):
    bad = _queued_product()
    bad.catalog.prompt_template = "Describe {nme}"
    bad.catalog.save()
    products = [_queued_product() for _ in range(3)]
    fake_openai.script("logprobs_refused")
    counts = generate_descriptions_task.apply(args=[[bad.pk, *(p.pk for p in products)]]).get()
    assert counts.get(S.FAILED) == 2 and sum(counts.values()) == 4
    assert Description.objects.get(product=bad).error_code == "configuration"
    stored = Description.objects.filter(product__in=products)
    assert sorted(d.error_code for d in stored) == ["", "", "logprobs_refused"]
    assert fake_openai.requests_total == 3


def test_a_chunk_leaves_an_embedded_run_to_the_one_product_path(openai_settings, fake_openai, monkeypatch):
    from generation import services
    from reviewq.core.models import GenerationRun

    products = [_queued_product() for _ in range(3)]
    run = GenerationRun.objects.create(catalog=products[0].catalog, provider="embedded")
    Description.objects.filter(product=products[0]).update(run=run)
    one_by_one = []

    def one_product(*, product_id):
        one_by_one.append(product_id)
        return services.GenerateOutcome(status="skipped", product_id=product_id)

    monkeypatch.setattr(services, "_description_generate", one_product)
    _run_chunk(products)
    assert one_by_one == [products[0].pk]  # claimed just before its own call, not with the chunk
    assert Description.objects.get(product=products[0]).status == S.QUEUED
    assert fake_openai.requests_total == 2


def test_bulk_runs_send_a_task_per_chunk(openai_settings, fake_openai, celery_eager, monkeypatch):
    from generation.queueing import generation_queue

    openai_settings.GENERATION_CHUNK_SIZE = 4
    products = ProductFactory.create_batch(9)
    claimed = _claims_spied(monkeypatch)
    generation_queue(product_ids=[p.pk for p in products])
    descriptions = Description.objects.filter(product__in=products)
    assert descriptions.count() == 9 and all(d.status in (S.REVIEW, S.PUBLISHED) for d in descriptions)
    assert claimed == [4, 4]  # two chunk tasks; the ninth product went as a task of its own


@pytest.mark.slow
def test_a_chunk_runs_the_embedded_model_one_product_at_a_time(settings, fresh_providers):
    settings.LLM_PROVIDER = "embedded"
    settings.LLM_MAX_TOKENS = 32
    settings.LLM_TEMPERATURE = 0.0
    settings.REDIS_URL = ""
    products = [_queued_product(name=f"Trail running shoe {i}", attributes={"colour": "red"}) for i in range(2)]
    counts = _run_chunk(products)
    assert sum(counts.values()) == 2 and set(counts) <= {S.REVIEW, S.PUBLISHED}
    for description in Description.objects.filter(product__in=products):
        assert description.provider == "embedded" and description.attempts == 1
        assert_stored_consistently(description)


def test_candidates_beyond_the_kept_one_give_the_agreement_signals(openai_settings, fake_openai):
    openai_settings.LLM_CANDIDATES = 3
    product = _queued_product(name="Alpine steel bottle", attributes={"capacity": "750 ml", "weight": "340 g"})
    _run(product)
    description = Description.objects.get(product=product)
    assert fake_openai.requests_total == 1  # one request for the three candidates
    sentences = list(Sentence.objects.filter(description=description))
    assert {s.signals["n_samples"] for s in sentences} == {2}
    assert all(s.signals["sample_support"] is None or 0 <= s.signals["sample_support"] <= 1 for s in sentences)
