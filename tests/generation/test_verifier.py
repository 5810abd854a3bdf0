"""The verifier pass (GATE_VERIFIER): the prompt, the call through the real SDK to the fake server,
the task path that stores P(True) per sentence, and failures that leave the description stored
without the signal."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from generation.providers import get_provider
from generation.tasks import generate_description_task
from generation.types import Alternative, Completion, TokenResult
from generation.verifier import (
    QUESTION,
    JudgeStats,
    VerdictCache,
    answer_alternatives,
    cached_judge,
    judge_provider,
    verifier_messages,
)
from reviewq.core.models import Description, DescriptionStatus, Sentence
from reviewq.gating.verifier import SIGNAL_KEY
from tests.factories import ProductFactory
from tests.fakes.fake_openai import NUMBER_RE, VERIFIER_SUPPORTED, VERIFIER_UNSUPPORTED, FakeOpenAI

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "gate_dev_set.jsonl"
S = DescriptionStatus
# Every value a number: whichever attribute the fake's middle sentence copies (JSONB reorders
# keys), it copies a number, wrong at wrong_number_rate 1.
ATTRIBUTES = {"capacity": "750 ml", "weight": "320 g", "height": "26 cm", "keeps cold": "24 h"}


def test_the_prompt_ends_with_the_sentence_so_a_products_sentences_share_the_rest():
    first = verifier_messages(sentence="It holds 750 ml.", attributes=ATTRIBUTES, product_name="Bottle")
    second = verifier_messages(sentence=" It is\nblue. ", attributes=ATTRIBUTES, product_name="Bottle")
    assert first[0] == second[0] and first[0]["role"] == "system"
    user, other = first[1]["content"], second[1]["content"]
    assert user.endswith("Sentence: It holds 750 ml.") and other.endswith("Sentence: It is blue.")
    prefix = user[: user.index("Sentence:")]
    assert other.startswith(prefix) and QUESTION in prefix
    assert "- capacity: 750 ml" in prefix and "Product: Bottle" in prefix


def _completion(token: TokenResult | None, *, has_logprobs: bool = True) -> Completion:
    tokens = (token,) if token else ()
    return Completion(
        text=token.text if token else "", tokens=tokens, finish_reason="length", model="m", provider="p",
        has_logprobs=has_logprobs,
    )  # fmt: skip


def test_answer_alternatives_add_the_answer_itself_when_the_top_list_lacks_it():
    listed = TokenResult(
        text="True", bytes=b"True", logprob=-0.2, alternatives=(Alternative("True", -0.2), Alternative("False", -1.8))
    )
    assert answer_alternatives(_completion(listed)) == [("True", -0.2), ("False", -1.8)]
    unlisted = TokenResult(text="No", bytes=b"No", logprob=-0.1, alternatives=())
    assert answer_alternatives(_completion(unlisted)) == [("No", -0.1)]
    assert answer_alternatives(_completion(None)) == []
    assert answer_alternatives(_completion(unlisted, has_logprobs=False)) == []


# --- The task path against the fake OpenAI server -----------------------------------------------


@pytest.fixture
def verifier_settings(openai_settings):
    openai_settings.GATE_VERIFIER = True
    openai_settings.GATE_VERIFIER_TIMEOUT = 1.0
    return openai_settings


def _expected_p_true(text: str, attributes: dict) -> float:
    """What the fake judge answers: supported unless the sentence has a number the facts lack."""
    known = set(NUMBER_RE.findall("\n".join(f"- {k}: {v}" for k, v in attributes.items())))
    return VERIFIER_SUPPORTED if set(NUMBER_RE.findall(text)) <= known else VERIFIER_UNSUPPORTED


def _generate(**attrs) -> Description:
    product = ProductFactory(name="Alpine steel bottle", attributes=dict(ATTRIBUTES), **attrs)
    Description.objects.create(product=product)
    generate_description_task.apply(args=[product.pk]).get()
    return Description.objects.get(product=product)


def _verifier_requests(server) -> list[dict]:
    return [r for r in server.requests if r.get("max_tokens") == 1]


@pytest.mark.django_db(transaction=True)
def test_the_task_stores_each_sentences_p_true_read_from_the_judges_logprobs(verifier_settings, fake_openai):
    fake_openai.wrong_number_rate = 1.0  # every number it copies is wrong: those sentences are unsupported
    description = _generate()
    assert description.status in (S.REVIEW, S.PUBLISHED)
    sentences = list(Sentence.objects.filter(description=description).order_by("index"))
    values = [s.signals.get(SIGNAL_KEY) for s in sentences]
    assert values == [pytest.approx(_expected_p_true(s.text, ATTRIBUTES), abs=1e-6) for s in sentences]
    assert VERIFIER_UNSUPPORTED in [pytest.approx(v) for v in values]
    assert VERIFIER_SUPPORTED in [pytest.approx(v) for v in values]
    # One request per sentence after the completion: one token, greedy, logprobs with 20 alternatives.
    requests = _verifier_requests(fake_openai)
    assert fake_openai.requests_total == 1 + len(sentences) == 1 + len(requests)
    assert all(r["logprobs"] is True and r["top_logprobs"] == 20 and r["temperature"] == 0.0 for r in requests)
    assert [r["messages"][1]["content"].rsplit("Sentence: ", 1)[1] for r in requests] == [
        " ".join(s.text.split()) for s in sentences
    ]
    # The hand-set gate does not read it: bands and risks are what they are without the verifier.
    assert all(s.risk is not None for s in sentences)


@pytest.mark.django_db(transaction=True)
def test_the_verifier_is_off_by_default(openai_settings, fake_openai):
    assert openai_settings.GATE_VERIFIER is False
    description = _generate()
    assert fake_openai.requests_total == 1
    assert not any(SIGNAL_KEY in s.signals for s in description.sentences.all())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", ["server_error", "timeout", "bad_request", "rate_limit"])
def test_a_verifier_error_stores_the_description_without_the_signal(verifier_settings, fake_openai, fault):
    fake_openai.script(None, None, fault)  # the completion and the first verdict, then the fault
    description = _generate()
    assert description.status in (S.REVIEW, S.PUBLISHED)
    assert description.error_code == "" and description.attempts == 1
    sentences = list(description.sentences.all())
    assert len(sentences) >= 2 and not any(SIGNAL_KEY in s.signals for s in sentences)
    assert len(_verifier_requests(fake_openai)) == 2  # it stopped at the failure


@pytest.mark.django_db(transaction=True)
def test_an_answer_without_logprobs_gives_no_value(verifier_settings, fake_openai):
    fake_openai.script(None, "no_logprobs")
    description = _generate()
    first, *rest = description.sentences.order_by("index")
    assert SIGNAL_KEY not in first.signals
    assert rest and all(SIGNAL_KEY in s.signals for s in rest)


@pytest.mark.django_db(transaction=True)
def test_a_misconfigured_verifier_never_fails_the_description(verifier_settings, fake_openai):
    verifier_settings.GATE_VERIFIER_PROVIDER = "bogus"
    description = _generate()
    assert description.status in (S.REVIEW, S.PUBLISHED)
    assert fake_openai.requests_total == 1
    assert not any(SIGNAL_KEY in s.signals for s in description.sentences.all())


@pytest.mark.django_db(transaction=True)
def test_a_separate_judge_server_and_model(verifier_settings, fake_openai):
    with FakeOpenAI() as judge:
        verifier_settings.GATE_VERIFIER_BASE_URL = judge.base_url
        verifier_settings.GATE_VERIFIER_MODEL = "judge-model"
        description = _generate()
        n = description.sentences.count()
        assert fake_openai.requests_total == 1 and judge.requests_total == n
        assert {r["model"] for r in judge.requests} == {"judge-model"}
    assert all(SIGNAL_KEY in s.signals for s in description.sentences.all())


# --- Scoring label files with a judge: the cache ------------------------------------------------


def test_cached_judge_asks_once_per_prompt_and_keeps_verdicts_in_a_side_file(fake_openai, settings, tmp_path):
    settings.LLM_API_KEY = "test"
    provider = judge_provider(fake_openai.base_url, model="judge")
    path = tmp_path / "verdicts.jsonl"
    stats = JudgeStats()
    judge = cached_judge(provider, VerdictCache(path), top_logprobs=20, stats=stats)
    sentences = ["It holds 750 ml.", "It holds 900 ml.", "  "]
    assert judge(ATTRIBUTES, "Bottle", sentences) == [
        pytest.approx(VERIFIER_SUPPORTED),
        pytest.approx(VERIFIER_UNSUPPORTED),
        None,
    ]
    assert (stats.calls, stats.cached, fake_openai.requests_total) == (2, 0, 2)
    assert len(path.read_text().splitlines()) == 2
    again = JudgeStats()
    rerun = cached_judge(provider, VerdictCache(path), top_logprobs=20, stats=again)
    assert rerun(ATTRIBUTES, "Bottle", sentences)[:2] == [pytest.approx(VERIFIER_SUPPORTED), pytest.approx(0.15)]
    assert (again.calls, again.cached, fake_openai.requests_total) == (0, 2, 2)
    # Another judge (model) or other top_logprobs do not reuse these verdicts.
    other = cached_judge(judge_provider(fake_openai.base_url, model="other"), VerdictCache(path), top_logprobs=20)
    other(ATTRIBUTES, "Bottle", sentences[:1])
    assert fake_openai.requests_total == 3


def test_judge_provider_refuses_what_is_neither_embedded_nor_a_url():
    with pytest.raises(ValueError, match="'embedded' or an http"):
        judge_provider("gpt-4o")


@pytest.mark.django_db
def test_gate_eval_scores_the_verifier_and_reuses_its_cache(fake_openai, settings, tmp_path):
    settings.LLM_API_KEY = "test"
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()[:3]
    dev_set = tmp_path / "three.jsonl"
    dev_set.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cache = tmp_path / "cache.jsonl"

    def run(*extra):
        out = StringIO()
        call_command(
            "gate_eval", str(dev_set), "--verifier", fake_openai.base_url, "--verifier-model", "judge",
            "--verifier-cache", str(cache), *extra, stdout=out,
        )  # fmt: skip
        return out.getvalue()

    text = run()
    first_calls = fake_openai.requests_total
    assert first_calls > 0
    assert re.search(r"verifier\s+\d\.\d{3}\s+\d\.\d{3}\s+\(1 - P\(True\); \d+ of \d+ sentences judged\)", text)
    assert f"verifier {fake_openai.base_url}: {first_calls} calls, 0 from the cache, 0 failed" in text
    summary = json.loads(run("--json"))
    assert fake_openai.requests_total == first_calls  # all from the cache
    assert summary["verifier"]["calls"] == 0 and summary["verifier"]["cached"] == first_calls
    assert summary["verified_sentences"] > 0 and summary["roc_auc"]["verifier"] is not None


@pytest.mark.django_db
def test_gate_eval_refuses_verifier_features_without_a_verifier(tmp_path):
    with pytest.raises(CommandError, match="--verifier-features needs --verifier"):
        call_command("gate_eval", str(tmp_path / "x.jsonl"), "--verifier-features")


def test_the_embedded_model_can_judge(settings, fresh_providers):
    provider = get_provider("embedded")
    judge = cached_judge(provider, VerdictCache(None), top_logprobs=20)
    [value] = judge(ATTRIBUTES, "Bottle", ["It holds 750 ml."])
    assert value is not None and 0.0 < value < 1.0
