import json
import math
from pathlib import Path

import pytest

from generation.evaluation import (
    LabelFileError,
    LabelledSpan,
    completion_to_openai,
    evaluate,
    map_labels,
    parse_case,
    read_cases,
    select_split,
    worst_band,
)
from generation.evaluation_report import average_precision, mean_logprob_risk, roc_auc, summarise
from generation.providers import texts_from_token_bytes
from generation.providers.openai_compat import completion_from_openai
from generation.types import Alternative, Completion, TokenResult
from reviewq.gating.gate import GateThresholds

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "gate_dev_set.jsonl"


# --- metrics, hand-computed -------------------------------------------------------------------


def test_roc_auc_counts_pairs():
    # errors 0.35 and 0.8 against oks 0.1 and 0.4: 3 of 4 pairs ordered right.
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)


def test_roc_auc_counts_a_tie_as_half():
    # error 0.5 vs ok 0.5 ties (1/2), vs ok 0.2 wins; error 0.9 wins both: 3.5 / 4.
    assert roc_auc([0.5, 0.5, 0.2, 0.9], [True, False, False, True]) == pytest.approx(0.875)


def test_roc_auc_all_tied_is_one_half_and_perfect_is_one():
    assert roc_auc([1.0] * 4, [True, False, True, False]) == pytest.approx(0.5)
    assert roc_auc([0.9, 0.8, 0.1], [True, True, False]) == pytest.approx(1.0)
    assert roc_auc([0.9, 0.8, 0.1], [False, False, True]) == pytest.approx(0.0)


def test_roc_auc_needs_both_classes():
    assert roc_auc([0.1, 0.2], [True, True]) is None
    assert roc_auc([0.1, 0.2], [False, False]) is None


def test_average_precision_hand_computed():
    # ranks: hit (P=1, R=.5), miss, hit (P=2/3, R=1): .5 * 1 + .5 * 2/3.
    assert average_precision([0.9, 0.8, 0.7, 0.6], [True, False, True, False]) == pytest.approx(5 / 6)


def test_average_precision_takes_tied_scores_as_one_threshold():
    # 0.9: miss; 0.5 (two sentences, one hit): R=.5 at P=1/3; 0.1: hit, R=1 at P=2/4.
    assert average_precision([0.9, 0.5, 0.5, 0.1], [False, True, False, True]) == pytest.approx(1 / 6 + 1 / 4)
    # Everything tied: precision is the base rate.
    assert average_precision([0.3] * 4, [True, False, False, False]) == pytest.approx(0.25)


def test_average_precision_needs_an_error():
    assert average_precision([0.1, 0.2], [False, False]) is None


def test_mean_logprob_risk_is_negated_and_missing_is_riskiest():
    assert mean_logprob_risk(-0.25) == 0.25
    assert mean_logprob_risk(None) == math.inf


def test_worst_band():
    assert worst_band(["publish", "review", "publish"]) == "review"
    assert worst_band(["publish", "flag", "review"]) == "flag"
    assert worst_band(["publish"]) == "publish"


# --- label mapping ----------------------------------------------------------------------------


def test_map_labels_takes_the_span_overlapping_most():
    # The labeller's splitter cut at 12, ours at 10 and 25.
    theirs = [LabelledSpan(0, 12, False), LabelledSpan(12, 30, True)]
    mapped = map_labels([(0, 10), (10, 25), (25, 30)], theirs)
    assert [m.error for m in mapped] == [False, True, True]


def test_map_labels_first_span_wins_a_tie_and_no_overlap_gives_none():
    theirs = [LabelledSpan(0, 5, True), LabelledSpan(5, 10, False)]
    assert map_labels([(3, 7)], theirs) == [theirs[0]]
    assert map_labels([(10, 14)], theirs) == [None]


# --- reading label lines ----------------------------------------------------------------------


def _body(content: str, pieces: list[str], logprobs: list[float], finish_reason: str = "stop") -> dict:
    assert "".join(pieces) == content
    return {
        "object": "chat.completion",
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
                "logprobs": {
                    "content": [
                        {
                            "token": piece,
                            "logprob": logprob,
                            "bytes": list(piece.encode()),
                            "top_logprobs": [{"token": piece, "logprob": logprob, "bytes": list(piece.encode())}],
                        }
                        for piece, logprob in zip(pieces, logprobs, strict=True)
                    ]
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces)},
    }


CONTENT = "The bottle holds 750 ml. It weighs 5 kg."
PIECES = ["The", " bottle", " holds", " 750", " ml", ".", " It", " weighs", " 5", " kg", "."]
LOGPROBS = [-0.05, -0.1, -0.1, -0.2, -0.05, -0.01, -0.1, -0.2, -0.3, -0.1, -0.01]
ATTRIBUTES = {"capacity": "750 ml", "weight": "340 g", "material": "stainless steel"}


def _line(**overrides) -> str:
    data = {
        "id": "bottle-1",
        "name": "Steel Bottle",
        "split": "dev",
        "attributes": ATTRIBUTES,
        "completion": _body(CONTENT, PIECES, LOGPROBS),
        "sentences": [
            {"text": "The bottle holds 750 ml.", "start": 0, "end": 24, "error": False},
            {"text": " It weighs 5 kg.", "start": 24, "end": 40, "error": True, "kind": "contradiction"},
        ],
    }
    data.update(overrides)
    return json.dumps(data)


def test_parse_case_ignores_unknown_keys():
    line = json.loads(_line(reviewer="anna", withheld=["weight"]))
    line["sentences"][0]["annotator_note"] = "fine"
    case = parse_case(json.dumps(line), line=1)
    assert case.id == "bottle-1"
    assert case.name == "Steel Bottle"
    assert [(s.start, s.end, s.error, s.kind) for s in case.spans] == [
        (0, 24, False, ""),
        (24, 40, True, "contradiction"),
    ]


def test_parse_case_distribution_defaults_to_the_model():
    assert parse_case(_line(), line=1).distribution == parse_case(_line(), line=1).model == "test-model"
    case = parse_case(_line(model="m", distribution="t10-cand3"), line=1)
    assert (case.model, case.distribution) == ("m", "t10-cand3")
    sentence = evaluate([case], thresholds=GateThresholds()).sentences[0]
    assert (sentence.model, sentence.distribution) == ("m", "t10-cand3")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        (json.dumps({"attributes": {}, "completion": {}}), "line 2: missing key 'sentences'"),
        (_line(completion={"choices": []}), "line 2: 'completion' has no choices"),
        (_line(sentences=[{"start": 0, "end": 99, "error": True}]), "line 2: sentences[0] span 0..99"),
        (_line(sentences=[{"start": 0, "end": 5, "error": "yes"}]), "line 2: sentences[0] error must be"),
        (_line(sentences=[{"start": 0, "error": False}]), "line 2: sentences[0] has no 'end'"),
    ],
)
def test_malformed_line_names_its_line_number(bad, message):
    with pytest.raises(LabelFileError) as caught:
        read_cases([_line(), bad, _line()])
    assert str(caught.value).startswith(message)


def test_blank_lines_are_skipped_but_counted():
    with pytest.raises(LabelFileError, match=r"^line 3:"):
        read_cases([_line(), "   ", "{"])


def test_select_split():
    cases = read_cases([_line(), _line(id="b", split="heldout")])
    assert [c.id for c in select_split(cases, "heldout")] == ["b"]
    assert len(select_split(cases, "all")) == 2
    with pytest.raises(ValueError):
        select_split(cases, "test")


# --- the production path ----------------------------------------------------------------------


def test_evaluate_runs_the_gate_and_pairs_labels():
    evaluation = evaluate(read_cases([_line()]), thresholds=GateThresholds())
    first, second = evaluation.sentences
    assert (first.error, second.error) == (False, True)
    assert first.band == "publish"
    # "5 kg" against weight 340 g is a grounding contradiction: flagged.
    assert second.band == "flag"
    assert second.kind == "contradiction"
    assert second.risk > first.risk
    assert first.mean_logprob == pytest.approx(sum(LOGPROBS[:6]) / 6)
    assert evaluation.description_bands == ["flag"]


def test_evaluate_with_labels_from_another_splitter():
    # One labelled span over the whole text: both our sentences take its label.
    line = _line(sentences=[{"start": 0, "end": len(CONTENT), "error": True}])
    evaluation = evaluate(read_cases([line]), thresholds=GateThresholds())
    assert [s.error for s in evaluation.sentences] == [True, True]


def test_summarise_figures():
    evaluation = evaluate(read_cases([_line()]), thresholds=GateThresholds())
    summary = summarise(evaluation)
    assert summary["sentences"] == 2 and summary["errors"] == 1
    assert summary["roc_auc"]["risk"] == 1.0
    assert summary["sentence_bands"]["publish"] == {"count": 1, "share": 0.5, "errors": 0, "error_rate": 0.0}
    assert summary["sentence_bands"]["flag"]["error_rate"] == 1.0
    assert summary["sentence_bands"]["review"]["error_rate"] is None
    assert summary["description_bands"]["flag"]["share"] == 1.0
    assert summary["escape_rate"] == 0.0
    assert summary["recall"] == 1.0 and summary["flag_recall"] == 1.0
    assert summary["recall_by_kind"] == {"contradiction": {"errors": 1, "caught": 1, "recall": 1.0}}


def test_thresholds_change_the_bands():
    # The first sentence (mean logprob -0.085) no longer publishes above -0.05.
    strict = GateThresholds(publish_above=-0.05, flag_below=-1.5, critical_floor=-2.3)
    evaluation = evaluate(read_cases([_line()]), thresholds=strict)
    assert evaluation.sentences[0].band == "review"


# --- writing completions in the OpenAI format -------------------------------------------------


def test_completion_to_openai_round_trips_bytes_exactly():
    # "é" split across two tokens and "☕" across two more: fragments keep their exact bytes.
    raw = [b"Caf", b"\xc3", b"\xa9 and", b" \xe2\x98", b"\x95."]
    texts = texts_from_token_bytes(raw)
    tokens = tuple(
        TokenResult(
            text=text,
            bytes=token_bytes,
            logprob=-0.1 * (i + 1),
            alternatives=(Alternative(text, -0.1 * (i + 1)), Alternative(" tea", -3.0)),
        )
        for i, (text, token_bytes) in enumerate(zip(texts, raw, strict=True))
    )
    completion = Completion(
        text="".join(texts),
        tokens=tokens,
        finish_reason="length",
        model="SmolLM2",
        provider="embedded",
        prompt_tokens=42,
        completion_tokens=len(tokens),
    )
    body = json.loads(json.dumps(completion_to_openai(completion, completion_id="x")))  # survives JSON
    parsed = completion_from_openai(body, provider="embedded")[0]
    assert parsed.text == "Café and ☕."
    assert parsed.tokens == completion.tokens
    assert parsed.notes == ()
    assert (parsed.finish_reason, parsed.model, parsed.prompt_tokens) == ("length", "SmolLM2", 42)


def test_shipped_set_parses_back_exactly():
    """Every shipped completion parses with no fallback (token bytes rebuild the content)."""
    for case in read_cases(DEV_SET.read_text(encoding="utf-8").splitlines()):
        parsed = completion_from_openai(case.completion, provider="embedded")[0]
        assert parsed.notes == (), case.id
        assert "".join(t.text for t in parsed.tokens) == parsed.text


# --- the claim on the shipped set -------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_cases():
    return read_cases(DEV_SET.read_text(encoding="utf-8").splitlines())


def test_shipped_set_is_big_enough_and_split_by_product(shipped_cases):
    n = sum(len(c.spans) for c in shipped_cases)
    assert n >= 300
    raw = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines()]
    splits: dict[str, set[str]] = {}
    for line in raw:
        splits.setdefault(line["product"], set()).add(line["split"])
        assert all(s["kind"] in {"ok", "unsupported", "contradiction", "unusable"} for s in line["sentences"])
        assert all(s["error"] == (s["kind"] != "ok") for s in line["sentences"])
    assert all(len(s) == 1 for s in splits.values())
    assert {"dev", "heldout"} == set().union(*splits.values())


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_gate_risk_beats_mean_logprob_on_the_shipped_set(shipped_cases, split):
    summary = summarise(evaluate(select_split(shipped_cases, split), thresholds=GateThresholds()))
    assert summary["roc_auc"]["risk"] > summary["roc_auc"]["mean_logprob"]


def _candidates_line(kept_content: str, other_contents: list[str]) -> str:
    """A label line with every candidate's chat.completion body, the kept one first."""
    bodies = [_body(CONTENT, PIECES, LOGPROBS)]
    for content in other_contents:
        bodies.append(_body(content, [content], [-0.5]))
    return _line(candidates=bodies)


def test_evaluate_computes_agreement_from_the_candidates_as_production_does():
    others = ["The bottle holds 750 ml and weighs 340 g.", "A 750 ml steel bottle that weighs 340 g."]
    [case] = read_cases([_candidates_line(CONTENT, others)])
    assert len(case.candidates) == 3
    first, second = evaluate([case], thresholds=GateThresholds()).sentences
    assert first.signals["n_samples"] == 2 and first.signals["n_values_alone"] == 0
    # "5 kg" is in no other candidate
    assert second.signals["n_values_alone"] == 1
    assert "'5 kg' stated by this sample only, by none of the 2 other samples" in second.reasons
    assert first.signals["sample_support"] > second.signals["sample_support"]
    # the same signals as the storage path computes with those other candidates
    from generation.alignment import align
    from generation.storage import gate_input
    from reviewq.gating.service import gate_description

    completion = completion_from_openai(json.loads(_line())["completion"], provider="x")[0]
    production = gate_description(
        gate_input(
            completion=completion,
            alignment=align(completion.text, [t.text for t in completion.tokens]),
            attributes=ATTRIBUTES,
            product_name="Steel Bottle",
            prompt="",
            other_candidates=others,
        ),
        thresholds=GateThresholds(),
        publish_confident_now=False,
    )
    assert [s.signals for s in production.sentences] == [first.signals, second.signals]


def test_a_line_without_candidates_has_no_agreement_signals():
    first, _ = evaluate(read_cases([_line()]), thresholds=GateThresholds()).sentences
    assert (first.signals["n_samples"], first.signals["sample_support"]) == (0, None)


def test_malformed_candidates_name_their_line():
    with pytest.raises(LabelFileError, match=r"^line 1: 'candidates' must be a list"):
        read_cases([_line(candidates="no")])
    with pytest.raises(LabelFileError, match=r"^line 1: 'candidates' holds an unreadable"):
        evaluate(read_cases([_line(candidates=[{"choices": ["not a choice"]}])]), thresholds=GateThresholds())
