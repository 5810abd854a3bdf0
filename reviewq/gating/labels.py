"""Reviewer decisions as labels for the fitted gate (issue 13), read set-based.

A label is a sentence a person decided, with the gate signals of its generated text (a
reviewer's edit re-gates the sentence; Sentence.generated_score keeps what the gate said first):

    approved unchanged                   ok    (error = False)
    edited (typed) or substituted        error
    removed                              error
    regenerated (a done regeneration)    error, with the signals of the sentence it replaced
                                         (SentenceRegeneration.original_signals)

A second (QA) review's verdict on a sentence (an admin's resolution first) is its label where
there is one: it overrides the first decision where they differ (kind "qa"), and makes labels of
auto-published sentences the QA samples checked. Other undecided sentences are not labels:
nobody checked them. The fold group is the product. Two queries, whatever the number of
labels: the decided sentences and the done regenerations.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, Subquery

from reviewq.core.models import QAVerdict, QAVerdictLabel, Sentence, SentenceDecision, SentenceRegeneration
from reviewq.core.qa import qa_label

D = SentenceDecision
APPROVED, EDITED, SUBSTITUTED, REMOVED, REGENERATED, QA = (
    "approved", "edited", "substituted", "removed", "regenerated", "qa"
)  # fmt: skip
LABEL_KINDS = (APPROVED, EDITED, SUBSTITUTED, REMOVED, REGENERATED, QA)


@dataclass(frozen=True, slots=True)
class SentenceLabel:
    signals: Mapping[str, Any]
    error: bool
    kind: str  # one of LABEL_KINDS
    group: str  # the product id: cross-validation folds never split a product
    model_name: str
    catalog_id: int


def _scope(prefix: str, *, model_name: str | None, catalog_id: int | None) -> Q:
    scope = Q()
    if model_name is not None:
        scope &= Q(**{f"{prefix}model": model_name})
    if catalog_id is not None:
        scope &= Q(**{f"{prefix}product__catalog_id": catalog_id})
    return scope


def sentence_labels_list(*, model_name: str | None = None, catalog_id: int | None = None) -> list[SentenceLabel]:
    """Every label of a scope (a model name and/or a catalog; None: any), oldest first."""
    verdicts = QAVerdict.objects.filter(sentence=OuterRef("pk"))
    decided = (
        Sentence.objects.filter(_scope("description__", model_name=model_name, catalog_id=catalog_id))
        .filter(~Q(decision=D.NONE) | Exists(verdicts))
        # A decision copied into a new revision (revert, QA fix draft) is the source's label already.
        .exclude(description__source__isnull=False, decided_at__lt=F("description__created_at"))
        .annotate(qa=Subquery(verdicts.annotate(label=qa_label()).values("label")[:1]))
        .order_by("decided_at", "id")
        .values_list(
            "signals",
            "generated_score",
            "decision",
            "substitutions",
            "qa",
            "description__product_id",
            "description__model",
            "description__product__catalog_id",
        )
    )
    labels = [
        SentenceLabel(
            signals=signals if generated is None else generated["signals"],
            error=decision != D.APPROVED if qa is None else qa == QAVerdictLabel.WRONG,
            kind=QA
            if qa is not None and (decision == D.NONE or (qa == QAVerdictLabel.WRONG) != (decision != D.APPROVED))
            else APPROVED
            if decision == D.APPROVED
            else REMOVED
            if decision == D.REJECTED
            else SUBSTITUTED
            if substitutions
            else EDITED,
            group=str(product_id),
            model_name=model,
            catalog_id=catalog_id_,
        )
        for signals, generated, decision, substitutions, qa, product_id, model, catalog_id_ in decided
    ]
    regenerated = (
        SentenceRegeneration.objects.filter(
            _scope("description__", model_name=model_name, catalog_id=catalog_id),
            status=SentenceRegeneration.Status.DONE,
        )
        .exclude(original_signals={})
        .order_by("finished_at", "id")
        .values_list(
            "original_signals", "description__product_id", "description__model", "description__product__catalog_id"
        )
    )
    labels += [
        SentenceLabel(
            signals=signals, error=True, kind=REGENERATED, group=str(product_id), model_name=model, catalog_id=cat
        )
        for signals, product_id, model, cat in regenerated
    ]
    return labels


def labelled_model_names() -> list[str]:
    """Model names with at least one decided sentence, for the page's and command's choices."""
    return sorted(
        set(
            Sentence.objects.exclude(decision=D.NONE)
            .exclude(description__model="")
            .values_list("description__model", flat=True)
            .distinct()
        )
    )
