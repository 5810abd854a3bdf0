"""Reviewer decisions as labels for the fitted gate (issue 13), read set-based.

A label is a sentence a person decided, with the gate signals of its generated text (a
reviewer's edit re-gates the sentence; Sentence.generated_score keeps what the gate said first):

    approved unchanged                   ok    (error = False)
    edited (typed) or substituted        error
    removed                              error
      ... tagged with an ErrorCategory that does not count as an error (style only): ok
    regenerated (a done regeneration)    error, with the signals of the sentence it replaced
                                         (SentenceRegeneration.original_signals)

A second (QA) review's verdict on a sentence (an admin's resolution first) is its label where
there is one: it overrides the first decision where they differ (kind "qa"), and makes labels of
auto-published sentences the QA samples checked. Other undecided sentences are not labels:
nobody checked them. A decision copied into a new revision (revert, QA fix draft) is its source's
label already and is not counted twice. The fold group is the product. Two queries, whatever the
number of labels: the decided sentences and the done regenerations.

A label also says where it sits (description and sentence index), the text it judges (the
generated text; a regeneration's original text) and the error category a reviewer gave (the
ErrorCategory's label, None without one), read here for every reader of labels (the fit, the
labelled-data export).
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery

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


def _decided_label(
    signals: Mapping[str, Any],
    decision: str,
    is_error: bool,
    category: str | None,
    substitutions: Mapping[str, str],
    qa: str | None,
    *where: Any,
) -> SentenceLabel:
    """A decided or QA-checked sentence's label: the QA verdict where there is one (kind "qa" when
    it differs from the first decision or there was none), else the first decision's."""
    first_error = bool(is_error)  # ERROR_LABEL
    if qa is None:
        kind = label_kind(decision=decision, substitutions=substitutions)
        return _label(signals, first_error, kind, where, category=category)
    error = qa == QAVerdictLabel.WRONG
    overridden = decision == D.NONE or error != first_error
    kind = QA if overridden else label_kind(decision=decision, substitutions=substitutions)
    return _label(signals, error, kind, where, category=None if overridden else category)


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
    verdicts = QAVerdict.objects.filter(sentence=OuterRef("pk"))
    decided = (
        Sentence.objects.filter(_scope(model_name=model_name, catalog_id=catalog_id, description_ids=description_ids))
        .filter(~Q(decision=D.NONE) | Exists(verdicts))
        .exclude(description__source__isnull=False, decided_at__lt=F("description__created_at"))
        .annotate(qa=Subquery(verdicts.annotate(label=qa_label()).values("label")[:1]))
        .annotate(is_error=ExpressionWrapper(ERROR_LABEL, output_field=BooleanField()))
        .order_by("decided_at", "id")
        .values_list(
            "signals",
            "generated_score",
            "decision",
            "is_error",
            "error_category__label",
            "substitutions",
            "qa",
            "description__product_id",
            "description__model",
            "description__product__catalog_id",
            "description_id",
            "index",
            "text",
        )
    )
    labels = [
        _decided_label(signals if generated is None else generated["signals"], *row)
        for signals, generated, *row in decided
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
