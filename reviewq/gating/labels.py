"""Reviewer decisions as labels for the fitted gate (issue 13), read set-based.

A label is a sentence a person decided, with the gate signals of its generated text (a
reviewer's edit re-gates the sentence; Sentence.generated_score keeps what the gate said first):

    approved unchanged                   ok    (error = False)
    edited (typed) or substituted        error
    removed                              error
    regenerated (a done regeneration)    error, with the signals of the sentence it replaced
                                         (SentenceRegeneration.original_signals)

Undecided sentences are not labels, so auto-published ones (band publish, no decision) never
are: nobody checked them. The fold group is the product. Two queries, whatever the number of
labels: the decided sentences and the done regenerations.

A label also says where it sits (description and sentence index), the text it judges (the
generated text; a regeneration's original text) and its error category. Decisions carry no
category yet, so `category` is None: a category on decisions is read here, in
`sentence_labels_list`, and every reader of labels (the fit, the labelled-data export) gets it.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from reviewq.core.models import Sentence, SentenceDecision, SentenceRegeneration

D = SentenceDecision
APPROVED, EDITED, SUBSTITUTED, REMOVED, REGENERATED = "approved", "edited", "substituted", "removed", "regenerated"
LABEL_KINDS = (APPROVED, EDITED, SUBSTITUTED, REMOVED, REGENERATED)


@dataclass(frozen=True, slots=True)
class SentenceLabel:
    signals: Mapping[str, Any]
    error: bool
    kind: str  # one of LABEL_KINDS
    group: str  # the product id: cross-validation folds never split a product
    model_name: str
    catalog_id: int
    description_id: int = 0
    sentence_index: int = -1
    text: str = ""
    category: str | None = None  # the decision's error category; decisions have none yet


def label_kind(*, decision: str, substitutions: Mapping[str, str]) -> str:
    if decision == D.APPROVED:
        return APPROVED
    if decision == D.REJECTED:
        return REMOVED
    return SUBSTITUTED if substitutions else EDITED


def _label(signals: Mapping[str, Any], error: bool, kind: str, where: Sequence[Any]) -> SentenceLabel:
    """`where`: product id, model name, catalog id, description id, sentence index, text."""
    product_id, model_name, catalog_id, description_id, index, text = where
    return SentenceLabel(
        signals=signals,
        error=error,
        kind=kind,
        group=str(product_id),
        model_name=model_name,
        catalog_id=catalog_id,
        description_id=description_id,
        sentence_index=index,
        text=text,
    )


def _scope(*, model_name: str | None, catalog_id: int | None, description_ids: Collection[int] | None) -> Q:
    """Sentences or regenerations of a model name, a catalog and/or some descriptions."""
    scope = Q()
    if model_name is not None:
        scope &= Q(description__model=model_name)
    if catalog_id is not None:
        scope &= Q(description__product__catalog_id=catalog_id)
    if description_ids is not None:
        scope &= Q(description_id__in=description_ids)
    return scope


def sentence_labels_list(
    *, model_name: str | None = None, catalog_id: int | None = None, description_ids: Collection[int] | None = None
) -> list[SentenceLabel]:
    """Every label of a scope (a model name, a catalog and/or some descriptions; None: any),
    oldest first."""
    decided = (
        Sentence.objects.filter(_scope(model_name=model_name, catalog_id=catalog_id, description_ids=description_ids))
        .exclude(decision=D.NONE)
        .order_by("decided_at", "id")
        .values_list(
            "signals",
            "generated_score",
            "decision",
            "substitutions",
            "description__product_id",
            "description__model",
            "description__product__catalog_id",
            "description_id",
            "index",
            "text",
        )
    )
    labels = [
        _label(
            signals if generated is None else generated["signals"],
            decision != D.APPROVED,
            label_kind(decision=decision, substitutions=substitutions),
            where,
        )
        for signals, generated, decision, substitutions, *where in decided
    ]
    regenerated = (
        SentenceRegeneration.objects.filter(
            _scope(model_name=model_name, catalog_id=catalog_id, description_ids=description_ids),
            status=SentenceRegeneration.Status.DONE,
        )
        .exclude(original_signals={})
        .order_by("finished_at", "id")
        .values_list(
            "original_signals",
            "description__product_id",
            "description__model",
            "description__product__catalog_id",
            "description_id",
            "sentence_index",
            "original_text",
        )
    )
    labels += [_label(signals, True, REGENERATED, where) for signals, *where in regenerated]
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
