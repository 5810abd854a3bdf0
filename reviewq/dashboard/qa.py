"""Second-review figures and their admin actions: sampling rates per catalog, the escape rate
measured on QA samples (Clopper-Pearson interval), agreement between first decisions and QA
verdicts (percent and Cohen's kappa), per-reviewer figures, and resolving disagreements.

Every figure is a grouped query (no per-row loops); medians take the middle row(s) per reviewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.utils import timezone

from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import AuditEvent, Catalog, QASample, QAVerdict, QAVerdictLabel, Sentence, SentenceDecision
from reviewq.core.qa import QA_UNCHANGED_DECISIONS, qa_label
from reviewq.dashboard.stats import REVIEW_DONE_ACTIONS, Agreement, duration_text
from reviewq.gating.cutoffs import clopper_pearson_lower, clopper_pearson_upper

D = SentenceDecision
WRONG = QAVerdictLabel.WRONG
CLAIM_ACTIONS = (AuditAction.REVIEW_CLAIMED, AuditAction.REVIEW_CLAIM_TAKEN_OVER)


class QASettingsError(ValueError):
    """Rates out of range, or a resolution that does not apply."""


@transaction.atomic
def qa_rates_set(*, catalog: Catalog, rate_auto: float, rate_approved: float, actor: AbstractBaseUser) -> Catalog:
    """Set a catalog's QA sampling rates (shares, 0 to 1), audited."""
    if not (0 <= rate_auto <= 1 and 0 <= rate_approved <= 1):
        raise QASettingsError("Sampling rates are shares between 0 and 1.")
    row = Catalog.objects.select_for_update().get(pk=catalog.pk)
    before = {"qa_rate_auto": row.qa_rate_auto, "qa_rate_approved": row.qa_rate_approved}
    row.qa_rate_auto, row.qa_rate_approved = rate_auto, rate_approved
    row.save(update_fields=["qa_rate_auto", "qa_rate_approved"])
    audit_record(
        action=AuditAction.QA_RATES_CHANGED,
        actor=actor,
        catalog=row,
        before=before,
        after={"qa_rate_auto": rate_auto, "qa_rate_approved": rate_approved},
    )
    return row


# --- Escape rate on the samples ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EscapeRate:
    catalog: str
    model: str
    reason: str  # QASample.Reason
    errors: int
    sampled: int
    confidence: float = 0.95

    @property
    def rate(self) -> float:
        return self.errors / self.sampled if self.sampled else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """Two-sided Clopper-Pearson interval: each one-sided bound at 1 - alpha/2."""
        one_sided = 1 - (1 - self.confidence) / 2
        return (
            clopper_pearson_lower(self.errors, self.sampled, one_sided),
            clopper_pearson_upper(self.errors, self.sampled, one_sided),
        )

    def text(self) -> str:
        low, high = self.interval
        label = QASample.Reason(self.reason).label.lower()
        return (
            f"{label}: {self.errors} error{'s' if self.errors != 1 else ''} in {self.sampled} sampled, "
            f"{100 * self.rate:.1f}%, {100 * self.confidence:g}% CI {100 * low:.1f}-{100 * high:.1f}%"
        )


def qa_escape_rates(*, catalog: Catalog | None = None) -> list[EscapeRate]:
    """Per catalog, model and reason: done samples, and those whose live copy carried a sentence
    the QA label says is wrong unchanged (an escape). One grouped query."""
    escaped = (
        QAVerdict.objects.filter(sample=OuterRef("pk"), sentence__decision__in=QA_UNCHANGED_DECISIONS)
        .annotate(label=qa_label())
        .filter(label=WRONG)
    )
    samples = QASample.objects.filter(status=QASample.Status.DONE)
    if catalog is not None:
        samples = samples.filter(description__product__catalog=catalog)
    rows = (
        samples.annotate(escaped=Exists(escaped))
        .values("description__product__catalog__name", "description__model", "reason")
        .annotate(n=Count("id"), k=Count("id", filter=Q(escaped=True)))
        .order_by("description__product__catalog__name", "description__model", "reason")
    )
    return [
        EscapeRate(
            catalog=row["description__product__catalog__name"],
            model=row["description__model"],
            reason=row["reason"],
            errors=row["k"],
            sampled=row["n"],
        )
        for row in rows
    ]


# --- Agreement: first decision vs QA verdict ---------------------------------------------------


def _human_pairs() -> QuerySet[QAVerdict]:
    """QA verdicts on sentences a person decided first, with both raters' "wrong" as booleans."""
    return (
        QAVerdict.objects.exclude(sentence__decision=D.NONE)
        .filter(sentence__decided_by__isnull=False, reviewer__isnull=False)
        .annotate(
            first_wrong=Case(
                When(sentence__decision=D.APPROVED, then=Value(False)), default=Value(True), output_field=BooleanField()
            ),
            second_wrong=Case(When(verdict=WRONG, then=Value(True)), default=Value(False), output_field=BooleanField()),
        )
    )


@dataclass(frozen=True, slots=True)
class PairAgreement:
    first: str  # who decided first
    second: str  # the QA reviewer
    agreement: Agreement


def qa_agreement() -> tuple[list[PairAgreement], Agreement]:
    """Per (first reviewer, QA reviewer) pair and overall: one grouped query."""
    rows = (
        _human_pairs()
        .values("sentence__decided_by__username", "reviewer__username", "first_wrong", "second_wrong")
        .annotate(n=Count("id"))
        .order_by()
    )
    tables: dict[tuple[str, str], dict[tuple[bool, bool], int]] = {}
    for row in rows:
        pair = (row["sentence__decided_by__username"], row["reviewer__username"])
        cell = (bool(row["first_wrong"]), bool(row["second_wrong"]))
        tables.setdefault(pair, {})[cell] = tables.get(pair, {}).get(cell, 0) + row["n"]
    pairs = [PairAgreement(first, second, Agreement(table)) for (first, second), table in sorted(tables.items())]
    overall = sum((p.agreement for p in pairs), Agreement({}))
    return pairs, overall


# --- Per reviewer ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewerFigures:
    reviewer: str
    items: int
    sentences: int
    changed: int  # sentences edited or removed
    median_time: timedelta | None  # claim -> decision, per item
    checked: int  # their sentences a QA review judged
    overturned: int  # ... where the QA label (resolution first) differs from theirs

    @property
    def change_rate(self) -> float | None:
        return self.changed / self.sentences if self.sentences else None

    @property
    def overturn_rate(self) -> float | None:
        return self.overturned / self.checked if self.checked else None

    @property
    def median_time_text(self) -> str:
        return duration_text(self.median_time) if self.median_time is not None else "—"


def _decision_waits() -> QuerySet[AuditEvent]:
    """Item decisions (approve, reject) with the time since the same reviewer's latest claim of
    the same description before it: a running maximum of claim times over each (description,
    reviewer)'s events in time order, one sort of the rows instead of a lookup per decision."""
    latest_claim = Window(
        Max(Case(When(action__in=CLAIM_ACTIONS, then=F("created_at")), output_field=DateTimeField())),
        partition_by=[F("description_id"), F("actor_id")],
        order_by=[F("created_at").asc(), F("id").asc()],
    )
    return (
        AuditEvent.objects.filter(
            action__in=(*CLAIM_ACTIONS, *REVIEW_DONE_ACTIONS), actor__isnull=False, description__isnull=False
        )
        # Empty on the claim rows themselves; a filter on a window result runs after the window
        # (a plain `action` filter would drop the claims before it).
        .annotate(
            claimed_at=Case(
                When(action__in=REVIEW_DONE_ACTIONS, then=latest_claim), default=None, output_field=DateTimeField()
            )
        )
        .annotate(wait=ExpressionWrapper(F("created_at") - F("claimed_at"), output_field=DurationField()))
        .filter(claimed_at__isnull=False)
    )


def qa_reviewer_figures() -> list[ReviewerFigures]:
    items = dict(
        AuditEvent.objects.filter(action__in=REVIEW_DONE_ACTIONS, actor__isnull=False)
        .values("actor__username")
        .annotate(n=Count("id"))
        .values_list("actor__username", "n")
    )
    # Decisions made in this revision (a revert or a QA fix copies earlier decisions along).
    sentences = {
        row["decided_by__username"]: row
        for row in Sentence.objects.exclude(decision=D.NONE)
        .filter(decided_by__isnull=False, decided_at__gte=F("description__created_at"))
        .values("decided_by__username")
        .annotate(n=Count("id"), changed=Count("id", filter=Q(decision__in=[D.EDITED, D.REJECTED])))
    }
    checked = {
        row["sentence__decided_by__username"]: row
        for row in _human_pairs()
        .annotate(label=qa_label())
        .values("sentence__decided_by__username")
        .annotate(
            n=Count("id"),
            overturned=Count(
                "id",
                filter=Q(first_wrong=False, label=WRONG) | Q(first_wrong=True, label=QAVerdictLabel.OK),
            ),
        )
    }
    medians = {}
    for name in items:
        # Per reviewer (a filter on the partition key leaves the window's results as they are).
        # Median without percentile functions (SQLite has none): the middle row(s) by wait.
        waits = _decision_waits().filter(actor__username=name)
        count = waits.count()
        if count:
            middle = list(waits.order_by("wait").values_list("wait", flat=True)[(count - 1) // 2 : count // 2 + 1])
            medians[name] = sum(middle, timedelta()) / len(middle)
    names = sorted(set(items) | set(sentences) | set(checked))
    return [
        ReviewerFigures(
            reviewer=name,
            items=items.get(name, 0),
            sentences=sentences.get(name, {}).get("n", 0),
            changed=sentences.get(name, {}).get("changed", 0),
            median_time=medians.get(name),
            checked=checked.get(name, {}).get("n", 0),
            overturned=checked.get(name, {}).get("overturned", 0),
        )
        for name in names
    ]


# --- Disagreements -----------------------------------------------------------------------------


def qa_disagreements(*, limit: int = 100) -> QuerySet[QAVerdict]:
    """Sentences where the QA verdict differs from the person who decided first; unresolved first."""
    return (
        _human_pairs()
        .exclude(first_wrong=F("second_wrong"))
        .select_related("sentence__decided_by", "reviewer", "resolved_by", "sample__description__product")
        .order_by(F("resolved_at").desc(nulls_first=True), "-decided_at", "-id")[:limit]
    )


@transaction.atomic
def qa_disagreement_resolve(*, verdict: QAVerdict, label: str, actor: AbstractBaseUser) -> QAVerdict:
    """An admin's label for a sentence two people disagreed on; the gate learns this one."""
    if label not in QAVerdictLabel.values:
        raise QASettingsError("Resolve as ok or wrong.")
    row = QAVerdict.objects.select_for_update().select_related("sentence").get(pk=verdict.pk)
    if row.sentence.decision == D.NONE:
        raise QASettingsError("Nobody decided this sentence first: there is no disagreement to resolve.")
    before = {"verdict": row.verdict, "resolved": row.resolved, "first_decision": row.sentence.decision}
    row.resolved, row.resolved_by, row.resolved_at = label, audit_actor(actor), timezone.now()
    row.save(update_fields=["resolved", "resolved_by", "resolved_at"])
    audit_record(
        action=AuditAction.QA_DISAGREEMENT_RESOLVED,
        actor=actor,
        description=row.sentence.description,
        sentence_index=row.sentence.index,
        before=before,
        after={"resolved": label},
    )
    return row
