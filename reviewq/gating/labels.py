"""Reviewer decisions as labels for the fitted gate (issue 13), read set-based.

A label is a sentence a person decided, with the gate signals of its generated text (a
reviewer's edit re-gates the sentence; Sentence.generated_score keeps what the gate said first):

    approved unchanged                   ok    (error = False)
    edited (typed) or substituted        error
    removed                              error
      ... tagged with an ErrorCategory that does not count as an error (style only): ok
    regenerated (a done regeneration)    error, with the signals of the sentence it replaced
                                         (SentenceRegeneration.original_signals)

Undecided sentences are not labels, so auto-published ones (band publish, no decision) never
are: nobody checked them. The fold group is the product. Two queries, whatever the number of
labels: the decided sentences and the done regenerations.

A label also says where it sits (description and sentence index), the text it judges (the
generated text; a regeneration's original text) and the error category a reviewer gave (the
ErrorCategory's label, None without one), read here for every reader of labels (the fit, the
labelled-data export).
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q

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
    category: str | None = None  # the label of the decision's ErrorCategory, if a reviewer gave one


# A decided sentence is an error label unless approved or tagged with a category that is no
# error (style only): the one rule, read by the labels below and counted in SQL elsewhere
# (the realised escape rate).
ERROR_LABEL = ~Q(decision=D.APPROVED) & (Q(error_category__isnull=True) | Q(error_category__counts_as_error=True))


def label_kind(*, decision: str, substitutions: Mapping[str, str]) -> str:
    if decision == D.APPROVED:
        return APPROVED
    if decision == D.REJECTED:
        return REMOVED
    return SUBSTITUTED if substitutions else EDITED


def _label(
    signals: Mapping[str, Any], error: bool, kind: str, where: Sequence[Any], *, category: str | None = None
) -> SentenceLabel:
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
        category=category,
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
        .annotate(is_error=ExpressionWrapper(ERROR_LABEL, output_field=BooleanField()))
        .order_by("decided_at", "id")
        .values_list(
            "signals",
            "generated_score",
            "decision",
            "is_error",
            "error_category__label",
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
            bool(is_error),
            label_kind(decision=decision, substitutions=substitutions),
            where,
            category=category,
        )
        for signals, generated, decision, is_error, category, substitutions, *where in decided
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
