import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

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
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sum(len(line["sentences"]) for line in lines if split in ("all", line["split"]))


def test_text_report(fixture_file):
    text = run(fixture_file)
    assert f"{fixture_file} (split: all)" in text
    assert "thresholds: publish_above=-0.5 flag_below=-1.5 critical_floor=-2.3" in text
    assert f"3 descriptions, {n_sentences(fixture_file)} sentences" in text
    for needle in ("gate risk", "mean logprob", "ROC-AUC", "PR-AUC", "publish", "review", "flag",
                   "escape rate", "recall"):
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
