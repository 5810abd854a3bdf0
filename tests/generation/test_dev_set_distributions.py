"""The further distributions of SmolLM2-135M (tests/data/gate_dev_set_smollm_*.jsonl): every
sentence labelled, split by product as the Qwen set, candidates consistent with pick_best, and
gate_eval --cv reporting each distribution."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from generation.evaluation import read_cases
from generation.providers.common import pick_best
from generation.providers.openai_compat import completion_from_openai

DATA = Path(__file__).resolve().parents[1] / "data"
QWEN_SET = DATA / "gate_dev_set_qwen05b.jsonl"
FILES = {
    "t10-cand3": DATA / "gate_dev_set_smollm_t10_cand3.jsonl",
    "spec-t07": DATA / "gate_dev_set_smollm_spec_t07.jsonl",
}
MODEL = "SmolLM2-135M-Instruct.Q4_1"
KINDS = {"ok", "unsupported", "contradiction", "nonsense"}


def lines(path: Path) -> list[dict]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines() if text.strip()]


@pytest.mark.parametrize("name", sorted(FILES))
def test_file_loads_and_every_sentence_is_labelled(name):
    path = FILES[name]
    assert path.stat().st_size < 5_500_000
    cases = read_cases(path.read_text(encoding="utf-8").splitlines())
    products = json.loads((DATA / "gate_dev_set_qwen05b.products.json").read_text(encoding="utf-8"))
    assert [case.group for case in cases] == [product["sku"] for product in products]
    assert {case.distribution for case in cases} == {name}
    assert {case.model for case in cases} == {MODEL}
    for line in lines(path):
        assert line["sentences"], line["id"]
        for sentence in line["sentences"]:
            assert sentence["kind"] in KINDS, (line["id"], sentence)
            assert sentence["error"] is (sentence["kind"] != "ok"), (line["id"], sentence)
            assert isinstance(sentence["why"], str) and sentence["why"], (line["id"], sentence)
            content = line["completion"]["choices"][0]["message"]["content"]
            assert content[sentence["start"] : sentence["end"]] == sentence["text"]
        parsed = completion_from_openai(line["completion"], provider="embedded")[0]
        assert parsed.notes == () and "".join(t.text for t in parsed.tokens) == parsed.text


@pytest.mark.parametrize("name", sorted(FILES))
def test_split_by_product_as_the_qwen_set(name):
    qwen = {line["product"]: line["split"] for line in lines(QWEN_SET)}
    ours = lines(FILES[name])
    assert {line["product"]: line["split"] for line in ours} == qwen
    assert {line["split"] for line in ours} == {"dev", "heldout"}


def test_kept_completion_is_the_candidate_pick_best_keeps():
    for line in lines(FILES["t10-cand3"]):
        candidates = [completion_from_openai(body, provider="embedded")[0] for body in line["candidates"]]
        assert len(candidates) == 3
        assert len({c.text for c in candidates}) == 3, line["id"]  # three samples, not one copied
        kept = pick_best(candidates)
        assert candidates.index(kept) == line["kept"]
        assert kept.text == line["completion"]["choices"][0]["message"]["content"]
        assert [t.logprob for t in kept.tokens] == [
            entry["logprob"] for entry in line["completion"]["choices"][0]["logprobs"]["content"]
        ]


def test_spec_t07_withholds_two_attributes_on_every_other_prompt():
    withheld = [line["withheld"] for line in lines(FILES["spec-t07"])]
    assert [len(w) for w in withheld] == [2, 0] * 16
    for line in lines(FILES["spec-t07"]):
        assert not set(line["withheld"]) & set(line["prompt_attributes"])
        assert all(f"- {key}:" not in line["prompt"] for key in line["withheld"])


@pytest.mark.django_db
def test_gate_eval_cv_reports_each_distribution():
    out = StringIO()
    call_command("gate_eval", *map(str, FILES.values()), str(QWEN_SET), "--cv", "3", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    by_distribution = summary["by_distribution"]
    assert set(by_distribution) == {"t10-cand3", "spec-t07", "qwen2_5-coder-0_5b-instruct"}
    assert set(summary["by_model"]) == {"SmolLM2-135M-Instruct_Q4_1", "qwen2_5-coder-0_5b-instruct"}
    for name, scope in by_distribution.items():
        assert set(scope) == set(summary["by_model"][scope["model"].replace(".", "_")]) | {"distribution"}, name
    smollm = summary["by_model"]["SmolLM2-135M-Instruct_Q4_1"]
    parts = [by_distribution["t10-cand3"], by_distribution["spec-t07"]]
    for key in ("sentences", "errors", "published"):
        assert sum(part[key] for part in parts) == smollm[key]
    assert sum(part["sentences"] for part in by_distribution.values()) == summary["sentences"]
    # A distribution of one model is scored with that model's out-of-fold risks and folds.
    assert parts[0]["folds"] == smollm["folds"]
    text = StringIO()
    call_command("gate_eval", *map(str, FILES.values()), "--cv", "3", stdout=text)
    assert "  t10-cand3" in text.getvalue() and "  spec-t07" in text.getvalue()
