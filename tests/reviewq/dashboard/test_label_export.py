"""The labelled-data export: gate_eval reads what it writes (the round trip), CSV one row per
label, bounded queries per chunk, the command and the admin download."""

import csv
import io
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from generation.evaluation import map_labels, read_cases
from generation.providers.openai_compat import completion_from_openai
from generation.queueing import description_claim_for_generation
from generation.storage import completion_store
from reviewq.core.models import Description, Sentence, SentenceRegeneration
from reviewq.dashboard import label_export
from reviewq.dashboard.label_export import label_cases, stream_label_csv, stream_label_jsonl
from reviewq.gating.labels import sentence_labels_list
from tests.factories import CatalogFactory, DescriptionFactory, UserFactory
from tests.reviewq.editor_data import client_for

pytestmark = pytest.mark.django_db
DEV_SET = Path(__file__).resolve().parents[2] / "data" / "gate_dev_set.jsonl"
FIGURES = ("descriptions", "sentences", "errors", "roc_auc", "pr_auc", "sentence_bands", "description_bands")


def _dev_lines(n: int) -> list[str]:
    """n lines of different products (the set has two per product)."""
    return DEV_SET.read_text(encoding="utf-8").splitlines()[::2][:n]


def _store(line: dict, *, catalog) -> Description:
    """The line's completion stored as production stores it, for a product like the line's."""
    description = DescriptionFactory(
        product__catalog=catalog,
        product__sku=line["product"],
        product__name=line["name"],
        product__attributes=line["attributes"],
    )
    claimed = description_claim_for_generation(product_id=description.product_id, lease_seconds=60)
    [completion] = completion_from_openai(line["completion"], provider="test")
    return completion_store(
        description=claimed, completion=completion, prompt=line["prompt"], claim_version=claimed.version
    )


def _decide_as_labelled(description: Description, line: dict, reviewer) -> None:
    """Each stored sentence decided as the line labels it: an error removed, the rest approved."""
    [case] = read_cases([json.dumps(line)])
    sentences = list(Sentence.objects.filter(description=description).order_by("index"))
    labels = map_labels([(s.char_start, s.char_end) for s in sentences], case.spans)
    for sentence, label in zip(sentences, labels, strict=True):
        sentence.decision = "rejected" if label.error else "approved"
        sentence.decided_by, sentence.decided_at = reviewer, timezone.now()
        sentence.save(update_fields=["decision", "decided_by", "decided_at"])


@pytest.fixture
def labelled(tmp_path):
    """Three dev-set descriptions stored and decided as labelled, one stored and left
    undecided; the three source lines as a file."""
    catalog = CatalogFactory(name="Shop")
    reviewer = UserFactory(username="rita")
    lines = _dev_lines(4)
    descriptions = []
    for text in lines[:3]:
        line = json.loads(text)
        description = _store(line, catalog=catalog)
        _decide_as_labelled(description, line, reviewer)
        descriptions.append(description)
    _store(json.loads(lines[3]), catalog=catalog)
    source = tmp_path / "source.jsonl"
    source.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    return descriptions, source


def _gate_eval(path: Path) -> dict:
    out = StringIO()
    call_command("gate_eval", str(path), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_gate_eval_reads_the_export_and_gets_the_source_figures(labelled, tmp_path):
    descriptions, source = labelled
    exported = tmp_path / "labels.jsonl"
    err = StringIO()
    call_command("export_labels", "--output", str(exported), stderr=err)
    want = _gate_eval(source)
    got = _gate_eval(exported)
    assert got["sentences"] == Sentence.objects.exclude(decision="").count() > 0
    assert got["unlabelled_sentences"] == 0
    assert {key: got[key] for key in FIGURES} == {key: want[key] for key in FIGURES}
    assert got["roc_auc"]["risk"] is not None
    assert f"of {len(descriptions)} description(s)" in err.getvalue()


def test_a_line_carries_tokens_reviewers_messages_and_an_empty_category(labelled):
    descriptions, _ = labelled
    first = next(label_cases())
    assert first["description_id"] == descriptions[0].pk
    assert first["product"] == descriptions[0].product.sku and first["catalog"] == "Shop"
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    entries = first["completion"]["choices"][0]["logprobs"]["content"]
    assert len(entries) == descriptions[0].tokens.count()
    assert all(entry["top_logprobs"] and entry["logprob"] <= 0 for entry in entries)
    sentence = first["sentences"][0]
    stored = Sentence.objects.get(description=descriptions[0], index=sentence["index"])
    content = first["completion"]["choices"][0]["message"]["content"]
    assert content[sentence["start"] : sentence["end"]] == stored.text == sentence["text"]
    assert sentence["reviewer"] == "rita" and sentence["reviewers"] == ["rita"]
    assert sentence["category"] is None
    assert sentence["kind"] == ("removed" if stored.decision == "rejected" else "approved")
    assert sentence["signals"] == stored.signals


def test_a_regenerated_sentence_is_kept_beside_the_spans(labelled):
    descriptions, _ = labelled
    SentenceRegeneration.objects.create(
        description=descriptions[1],
        sentence_index=0,
        status="done",
        result_version=9,
        finished_at=timezone.now(),
        original_text="The old sentence.",
        original_signals={"mean_logprob": -3.0},
    )
    case = next(c for c in label_cases() if c["description_id"] == descriptions[1].pk)
    assert case["regenerated"] == [
        {
            "index": 0,
            "text": "The old sentence.",
            "error": True,
            "kind": "regenerated",
            "category": None,
            "signals": {"mean_logprob": -3.0},
        }
    ]
    rows = list(csv.DictReader(io.StringIO("".join(stream_label_csv(label_cases())))))
    regenerated = [row for row in rows if row["kind"] == "regenerated"]
    assert len(regenerated) == 1 and regenerated[0]["tokens"] == "[]" and regenerated[0]["mean_logprob"] == "-3.0"


def test_csv_has_one_row_per_decided_sentence_with_its_tokens(labelled):
    rows = list(csv.DictReader(io.StringIO("".join(stream_label_csv(label_cases())))))
    decided = Sentence.objects.exclude(decision="")
    assert len(rows) == decided.count()
    row = rows[0]
    sentence = decided.get(description_id=int(row["description_id"]), index=int(row["index"]))
    tokens = json.loads(row["tokens"])
    assert "".join(token["token"] for token in tokens) == sentence.text
    assert [token["logprob"] for token in tokens] == list(
        sentence.tokens.order_by("position").values_list("logprob", flat=True)
    )
    assert row["error"] == str(sentence.decision != "approved") and row["reviewer"] == "rita"


def test_chunks_give_the_same_lines_with_a_fixed_number_of_queries(labelled, django_assert_num_queries):
    whole = list(stream_label_jsonl(label_cases()))
    assert list(stream_label_jsonl(label_cases(chunk_size=1))) == whole
    # Per chunk: the descriptions, two for the labels, the sentences, the tokens; then the empty chunk.
    with django_assert_num_queries(6):
        assert len(list(label_cases(chunk_size=100))) == 3
    with django_assert_num_queries(5 * 3 + 1):
        assert len(list(label_cases(chunk_size=1))) == 3


def test_scope_by_model_and_catalog(labelled):
    descriptions, _ = labelled
    Description.objects.filter(pk=descriptions[0].pk).update(model="other-model")
    assert [c["description_id"] for c in label_cases(model_name="other-model")] == [descriptions[0].pk]
    assert list(label_cases(catalog_id=CatalogFactory().pk)) == []
    out = StringIO()
    call_command("export_labels", "--model", "other-model", "--format", "csv", stdout=out)
    assert {row["description_id"] for row in csv.DictReader(io.StringIO(out.getvalue()))} == {str(descriptions[0].pk)}


def test_command_refuses_an_unknown_catalog(db):
    with pytest.raises(CommandError, match="No catalog named 'nope'"):
        call_command("export_labels", "--catalog", "nope")


def test_admin_downloads_a_streamed_file(labelled, client):
    descriptions, _ = labelled
    client, _ = client_for(client, "admin")
    catalog = descriptions[0].product.catalog
    response = client.get(reverse("gate_labels_export"), {"format": "jsonl", "catalog": catalog.pk})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="labels-Shop.jsonl"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["description_id"] for line in lines] == [d.pk for d in descriptions]
    response = client.get(reverse("gate_labels_export"), {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    page = client.get(reverse("gate_model")).content.decode()
    assert reverse("gate_labels_export") + "?format=jsonl" in page


@pytest.mark.parametrize(
    "query",
    [{}, {"format": "xml"}, {"format": "csv", "catalog": "x"}, {"format": "csv", "model_name": "m" * 300}],
)
def test_odd_queries_are_a_400(client, query):
    client, _ = client_for(client, "admin")
    assert client.get(reverse("gate_labels_export"), query).status_code == 400


@pytest.mark.parametrize("role", ["reviewer", "editor"])
def test_only_admins_download_labels(client, role):
    client, _ = client_for(client, role)
    assert client.get(reverse("gate_labels_export"), {"format": "csv"}).status_code == 403


def test_a_sentence_undone_between_the_reads_is_left_out(labelled, monkeypatch):
    descriptions, _ = labelled
    read_first = sentence_labels_list(description_ids=[descriptions[0].pk])
    Sentence.objects.filter(description=descriptions[0], index=0).update(decision="", decided_at=None, decided_by=None)
    monkeypatch.setattr(label_export, "sentence_labels_list", lambda **scope: read_first)
    case = next(label_cases())
    assert 0 in {label.sentence_index for label in read_first}
    assert [s["index"] for s in case["sentences"]] == sorted(
        label.sentence_index for label in read_first if label.sentence_index
    )
