import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from generation.alignment import align
from generation.providers.openai_compat import completion_from_openai
from reviewq.core.models import Thresholds

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "gate_dev_set.jsonl"

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixture_file(tmp_path):
    """Three lines of the shipped set: two dev, one held-out."""
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    dev = [line for line in lines if json.loads(line)["split"] == "dev"][:2]
    heldout = [line for line in lines if json.loads(line)["split"] == "heldout"][:1]
    path = tmp_path / "three.jsonl"
    path.write_text("\n".join(dev + heldout) + "\n", encoding="utf-8")
    return path


def run(*args) -> str:
    out = StringIO()
    call_command("gate_eval", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def n_sentences(path: Path, split: str = "all") -> int:
    """Sentences the production splitter gives the lines (a labelled span the labellers' splitter
    left whole, such as a quoted paragraph, may be several of ours)."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    total = 0
    for line in lines:
        if split in ("all", line["split"]):
            [completion] = completion_from_openai(line["completion"], provider="test")
            total += len(align(completion.text, [t.text for t in completion.tokens]).sentences)
    return total


def test_text_report(fixture_file):
    text = run(fixture_file)
    assert f"{fixture_file} (split: all)" in text
    assert "thresholds: publish_above=-0.5 flag_below=-1.5 critical_floor=-2.3" in text
    assert f"3 descriptions, {n_sentences(fixture_file)} sentences" in text
    for needle in (
        "gate risk",
        "mean logprob",
        "ROC-AUC",
        "PR-AUC",
        "publish",
        "review",
        "flag",
        "escape rate",
        "recall",
    ):
        assert needle in text


def test_json_report_is_consistent(fixture_file):
    summary = json.loads(run(fixture_file, "--json"))
    n = n_sentences(fixture_file)
    assert summary["sentences"] == n
    assert summary["descriptions"] == 3
    bands = summary["sentence_bands"]
    assert sum(b["count"] for b in bands.values()) == n
    assert sum(b["errors"] for b in bands.values()) == summary["errors"]
    assert sum(d["count"] for d in summary["description_bands"].values()) == 3
    if bands["publish"]["count"]:
        assert summary["escape_rate"] == bands["publish"]["errors"] / bands["publish"]["count"]
    if summary["errors"]:
        caught = bands["review"]["errors"] + bands["flag"]["errors"]
        assert summary["recall"] == caught / summary["errors"]
    assert set(summary["roc_auc"]) == {"risk", "mean_logprob"}


def test_split_selects_lines(fixture_file):
    summary = json.loads(run(fixture_file, "--json", "--split", "heldout"))
    assert summary["descriptions"] == 1
    assert summary["sentences"] == n_sentences(fixture_file, "heldout")


def test_thresholds_option_and_flags(fixture_file):
    summary = json.loads(run(fixture_file, "--json", "--thresholds=-0.2,-3,-5"))
    assert summary["thresholds"] == {"publish_above": -0.2, "flag_below": -3.0, "critical_floor": -5.0}
    summary = json.loads(run(fixture_file, "--json", "--flag-below=-2"))
    assert summary["thresholds"] == {"publish_above": -0.5, "flag_below": -2.0, "critical_floor": -2.3}


def test_default_thresholds_are_the_global_row(fixture_file):
    Thresholds.objects.create(catalog=None, publish_above=-0.3, flag_below=-2.5, critical_floor=-4.0)
    summary = json.loads(run(fixture_file, "--json"))
    assert summary["thresholds"] == {"publish_above": -0.3, "flag_below": -2.5, "critical_floor": -4.0}
    assert Thresholds.objects.count() == 1


def test_stricter_publish_threshold_publishes_less(fixture_file):
    loose = json.loads(run(fixture_file, "--json", "--thresholds=-3,-6,-50"))
    strict = json.loads(run(fixture_file, "--json", "--thresholds=-0.05,-6,-50"))
    assert strict["sentence_bands"]["publish"]["count"] <= loose["sentence_bands"]["publish"]["count"]
    assert strict["recall"] is None or strict["recall"] >= loose["recall"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--thresholds=-0.5,-1.5"], "--thresholds must be three numbers"),
        (["--thresholds=-2,-1,-3"], "must be above flag_below"),
        (["--thresholds=-0.5,-1.5,-2", "--flag-below", "-2"], "not both"),
    ],
)
def test_bad_thresholds(fixture_file, args, message):
    with pytest.raises(CommandError, match=message):
        run(fixture_file, *args)


def test_malformed_line_reports_file_and_line(fixture_file, tmp_path):
    lines = fixture_file.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], lines[1][:50], lines[2]]), encoding="utf-8")
    with pytest.raises(CommandError, match=rf"^{broken}: line 2: not valid JSON"):
        run(broken)


def test_missing_file_and_empty_split(tmp_path, fixture_file):
    with pytest.raises(CommandError, match="cannot read"):
        run(tmp_path / "nope.jsonl")
    only_dev = tmp_path / "dev.jsonl"
    only_dev.write_text(fixture_file.read_text(encoding="utf-8").splitlines()[0], encoding="utf-8")
    with pytest.raises(CommandError, match="no lines for split 'heldout'"):
        run(only_dev, "--split", "heldout")


def test_writes_nothing(fixture_file):
    from reviewq.core.models import Description, Sentence

    run(fixture_file)
    assert Description.objects.count() == 0 and Sentence.objects.count() == 0


# --- gate_eval --cv ----------------------------------------------------------------------------

QWEN_SET = DEV_SET.with_name("gate_dev_set_qwen05b.jsonl")
CV_KEYS = (
    "roc_auc.fitted",
    "roc_auc.gate",
    "roc_auc.mean_logprob",
    "pr_auc.fitted",
    "published_correct_share",
    "escape_rate",
)


def dotted(summary: dict, path: str):
    value = summary
    for part in path.split("."):
        value = value[part]
    return value


def groups_by_model(*paths: Path) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            model = (data.get("model") or data["completion"]["model"]).replace(".", "_")
            groups.setdefault(model, set()).add(data.get("product") or data["name"])
    return groups


@pytest.fixture(scope="module")
def cv_summary(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        return json.loads(run(DEV_SET, QWEN_SET, "--cv", "4", "--json"))


def test_cv_json_has_the_keys_in_range_overall_and_per_model(cv_summary, db):
    expected = groups_by_model(DEV_SET, QWEN_SET)
    assert set(cv_summary["by_model"]) == set(expected) and len(expected) == 2
    scopes = [""] + [f"by_model.{model}." for model in expected]
    for scope in scopes:
        for key in CV_KEYS:
            value = dotted(cv_summary, scope + key)
            if key == "escape_rate" and dotted(cv_summary, scope + "published") == 0:
                assert value is None
            else:
                assert 0.0 <= value <= 1.0, (scope + key, value)
    # The same sentences as the plain report on both files (our splitter's, with their labels).
    assert cv_summary["sentences"] == json.loads(run(DEV_SET, QWEN_SET, "--json"))["sentences"]
    assert sum(m["sentences"] for m in cv_summary["by_model"].values()) == cv_summary["sentences"]
    assert sum(m["published"] for m in cv_summary["by_model"].values()) == cv_summary["published"]


def test_cv_folds_never_share_a_product(cv_summary):
    for model, groups in groups_by_model(DEV_SET, QWEN_SET).items():
        folds = cv_summary["by_model"][model]["folds"]
        assert len(folds) == 4
        tested = [group for fold in folds for group in fold["test_groups"]]
        assert sorted(tested) == sorted(groups)  # each product tested exactly once
        for fold in folds:
            assert not set(fold["train_groups"]) & set(fold["test_groups"])
            assert set(fold["train_groups"]) | set(fold["test_groups"]) == groups


def test_cv_text_report_and_split(fixture_file):
    text = run(QWEN_SET, "--cv", "3", "--split", "dev")
    assert "3 folds grouped by product" in text
    assert "qwen2.5-coder-0.5b-instruct" in text
    summary = json.loads(run(QWEN_SET, "--cv", "3", "--split", "heldout", "--json"))
    assert summary["sentences"] == n_sentences(QWEN_SET, "heldout")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cv", "1"], "--cv must be 2 or more"),
        (["--cv", "4", "--target-escape", "0"], "--target-escape must be between 0 and 1"),
        (["--cv", "4", "--confidence", "1.5"], "--confidence must be between 0 and 1"),
    ],
)
def test_cv_bad_arguments(fixture_file, args, message):
    with pytest.raises(CommandError, match=message):
        run(fixture_file, *args)


def test_cv_needs_two_products_per_model(tmp_path):
    line = QWEN_SET.read_text(encoding="utf-8").splitlines()[0]
    one = tmp_path / "one.jsonl"
    one.write_text(line + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="two groups"):
        run(one, "--cv", "4")
