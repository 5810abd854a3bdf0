"""Reviewer-labelled sentences for offline evaluation, as JSON Lines that `manage.py gate_eval`
reads (generation/evaluation.py) or as CSV, one row per label. Streamed in chunks of
descriptions (bounded memory: six queries per chunk, never the whole table).

One JSONL line per description with at least one label (reviewq/gating/labels.py decides what
a label is; nothing here re-derives one):

    id, description_id, product (sku: gate_eval's fold group), name, catalog, model, status,
    attributes, prompt, messages, completion (an OpenAI chat.completion rebuilt from the stored
    tokens: logprobs and top alternatives), sentences (the decided ones: start/end offsets into
    the completion's content, error, kind, category, decision, edited_text, reviewer,
    decided_at, reviewers, band, risk, signals), regenerated (sentences a reviewer had
    regenerated: error labels whose tokens are gone, so gate_eval cannot re-gate them; their
    stored signals and text are kept).

`category` is the label of the error category a reviewer gave the decision (None without one;
a regenerated sentence has none); `error` is False for a style-only one. `reviewers` lists who decided the sentence; a second review adds its reviewer there.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import Exists, F, OuterRef, Q

from generation.evaluation import completion_to_openai
from generation.prompts import prompt_messages
from generation.types import Alternative, Completion, TokenResult
from reviewq.core.downloads import csv_stream, filename_slug
from reviewq.core.models import Description, Sentence, SentenceDecision, SentenceRegeneration, Token
from reviewq.gating.labels import REGENERATED, SentenceLabel, sentence_labels_list

LABEL_FORMATS = ("jsonl", "csv")
CHUNK_DESCRIPTIONS = 100
CSV_COLUMNS = (
    "description_id",
    "product",
    "name",
    "catalog",
    "model",
    "index",
    "start",
    "end",
    "text",
    "edited_text",
    "error",
    "kind",
    "category",
    "decision",
    "reviewer",
    "decided_at",
    "reviewers",
    "band",
    "risk",
    "mean_logprob",
    "signals",
    "tokens",
)


def _labelled_descriptions(*, model_name: str | None, catalog_id: int | None):
    decided = Sentence.objects.filter(description=OuterRef("pk")).exclude(decision=SentenceDecision.NONE)
    regenerated = SentenceRegeneration.objects.filter(
        description=OuterRef("pk"), status=SentenceRegeneration.Status.DONE
    ).exclude(original_signals={})
    scope = Q(Exists(decided)) | Q(Exists(regenerated))
    if model_name is not None:
        scope &= Q(model=model_name)
    if catalog_id is not None:
        scope &= Q(product__catalog_id=catalog_id)
    return Description.objects.filter(scope)


def _description_chunks(*, model_name: str | None, catalog_id: int | None, size: int) -> Iterator[list[dict]]:
    """The labelled descriptions, `size` at a time, by id (keyset: each chunk one query)."""
    last = 0
    while True:
        chunk = list(
            _labelled_descriptions(model_name=model_name, catalog_id=catalog_id)
            .filter(pk__gt=last)
            .order_by("pk")
            .values(
                "pk",
                "text",
                "model",
                "provider",
                "prompt",
                "status",
                "finish_reason",
                "has_logprobs",
                "prompt_tokens",
                "completion_tokens",
                sku=F("product__sku"),
                name=F("product__name"),
                attributes=F("product__attributes"),
                catalog=F("product__catalog__name"),
            )[:size]
        )
        if not chunk:
            return
        yield chunk
        last = chunk[-1]["pk"]


def _completion(description: dict, tokens: list[tuple]) -> Completion:
    return Completion(
        text=description["text"],
        tokens=tuple(
            TokenResult(
                text=text,
                bytes=bytes(raw),
                logprob=logprob,
                alternatives=tuple(Alternative(alt_text, alt_logprob) for alt_text, alt_logprob in alternatives),
            )
            for text, raw, logprob, alternatives in tokens
        ),
        finish_reason=description["finish_reason"],
        model=description["model"],
        provider=description["provider"],
        prompt_tokens=description["prompt_tokens"],
        completion_tokens=description["completion_tokens"],
        has_logprobs=description["has_logprobs"],
    )


def _decided_sentence(label: SentenceLabel, sentence: dict) -> dict[str, Any]:
    reviewer = sentence["decided_by__username"]
    return {
        "index": label.sentence_index,
        "text": label.text,
        "start": sentence["char_start"],
        "end": sentence["char_end"],
        "error": label.error,
        "kind": label.kind,
        "category": label.category,
        "decision": sentence["decision"],
        "edited_text": sentence["edited_text"],
        "reviewer": reviewer,
        "decided_at": sentence["decided_at"].isoformat() if sentence["decided_at"] else None,
        "reviewers": [reviewer] if reviewer else [],
        "band": sentence["band"],
        "risk": sentence["risk"],
        "signals": dict(label.signals),
    }


def _regenerated_sentence(label: SentenceLabel) -> dict[str, Any]:
    return {
        "index": label.sentence_index,
        "text": label.text,
        "error": label.error,
        "kind": label.kind,
        "category": label.category,
        "signals": dict(label.signals),
    }


def label_cases(
    *, model_name: str | None = None, catalog_id: int | None = None, chunk_size: int = CHUNK_DESCRIPTIONS
) -> Iterator[dict[str, Any]]:
    """One gate_eval label line (a dict) per labelled description of the scope, by id."""
    for chunk in _description_chunks(model_name=model_name, catalog_id=catalog_id, size=chunk_size):
        ids = [description["pk"] for description in chunk]
        labels: dict[int, list[SentenceLabel]] = defaultdict(list)
        for label in sentence_labels_list(description_ids=ids):
            labels[label.description_id].append(label)
        sentences = {
            (row["description_id"], row["index"]): row
            for row in Sentence.objects.filter(description_id__in=ids)
            .exclude(decision=SentenceDecision.NONE)
            .values(
                "description_id",
                "index",
                "char_start",
                "char_end",
                "decision",
                "edited_text",
                "decided_by__username",
                "decided_at",
                "band",
                "risk",
            )
        }
        tokens: dict[int, list[tuple]] = defaultdict(list)
        for description_id, *token in (
            Token.objects.filter(description_id__in=ids)
            .order_by("description_id", "position")
            .values_list("description_id", "text", "bytes", "logprob", "alternatives")
        ):
            tokens[description_id].append(tuple(token))
        for description in chunk:
            pk = description["pk"]
            ordered = sorted(labels[pk], key=lambda label: label.sentence_index)
            # A sentence undone between the two reads is no label any more: left out.
            decided = [
                _decided_sentence(label, sentences[(pk, label.sentence_index)])
                for label in ordered
                if label.kind != REGENERATED and (pk, label.sentence_index) in sentences
            ]
            yield {
                "id": f"description-{pk}",
                "description_id": pk,
                "product": description["sku"],
                "name": description["name"],
                "catalog": description["catalog"],
                "model": description["model"],
                "status": description["status"],
                "attributes": description["attributes"],
                "prompt": description["prompt"],
                "messages": prompt_messages(description["prompt"]),
                "completion": completion_to_openai(
                    _completion(description, tokens[pk]), completion_id=f"description-{pk}"
                ),
                # gate_eval refuses an empty span; a sentence of no characters judges nothing.
                "sentences": [sentence for sentence in decided if sentence["end"] > sentence["start"]],
                "regenerated": [_regenerated_sentence(label) for label in ordered if label.kind == REGENERATED],
            }


def stream_label_jsonl(cases: Iterator[dict[str, Any]]) -> Iterator[str]:
    for case in cases:
        yield json.dumps(case, ensure_ascii=False) + "\n"


def _csv_rows(case: dict[str, Any]) -> Iterator[dict[str, Any]]:
    entries = (case["completion"]["choices"][0]["logprobs"] or {}).get("content") or []
    offsets, position = [], 0
    for entry in entries:
        offsets.append(position)
        position += len(entry["token"])
    for sentence in (*case["sentences"], *case["regenerated"]):
        start, end = sentence.get("start"), sentence.get("end")
        tokens = [
            {"token": entry["token"], "logprob": entry["logprob"], "top_logprobs": entry["top_logprobs"]}
            for entry, offset in zip(entries, offsets, strict=True)
            if start is not None and end is not None and start <= offset < end
        ]
        yield {
            **{key: case[key] for key in ("description_id", "product", "name", "catalog", "model")},
            **{key: sentence.get(key) for key in ("index", "start", "end", "text", "edited_text", "error", "kind")},
            **{key: sentence.get(key) for key in ("category", "decision", "reviewer", "decided_at", "band", "risk")},
            "reviewers": " ".join(sentence.get("reviewers", [])),
            "mean_logprob": sentence["signals"].get("mean_logprob"),
            "signals": json.dumps(sentence["signals"], ensure_ascii=False, sort_keys=True),
            "tokens": json.dumps(tokens, ensure_ascii=False),
        }


def stream_label_csv(cases: Iterator[dict[str, Any]]) -> Iterator[str]:
    """A header, then one row per label (a regenerated sentence has no span nor tokens)."""
    return csv_stream(CSV_COLUMNS, (row for case in cases for row in _csv_rows(case)))


def label_export_filename(*, scope: str, fmt: str) -> str:
    return f"labels-{filename_slug(scope, fallback='all')}.{fmt}"
