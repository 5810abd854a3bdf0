"""The second (QA) review of a sampled published revision (samples are drawn at publish time,
reviewq/core/qa.py).

A QA reviewer is anyone with the review permission who did not decide the revision: not its
approver, nor anyone who decided one of its sentences. The review is blind: the page shows each
sentence as the model generated it, with the gate's scores for that text, and nothing of the
first decision (who, whether approved or auto-published, edits, removals). The reviewer says
ok or wrong per sentence. A wrong sentence the live copy still carries unchanged (approved or
never decided) is an escape: the product gets a new draft with those sentences flagged for
review, and the live copy stays live until that draft is published.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import (
    DRAFT_STATUSES,
    Description,
    DescriptionStatus,
    QASample,
    QAVerdict,
    QAVerdictLabel,
    Sentence,
    SentenceBand,
    SentenceDecision,
)
from reviewq.core.qa import QA_UNCHANGED_DECISIONS
from reviewq.core.transitions import description_create_draft
from reviewq.gating.service import reason_text
from reviewq.review.revisions import revision_rows_copy

S = DescriptionStatus
QA_WRONG_REASON = "Marked wrong in a QA review"


class QARefused(Exception):
    """This reviewer may not (or no longer) QA this sample."""


def _first_deciders(user: AbstractBaseUser) -> Q:
    """Samples `user` took part in first: approved it or decided one of its sentences."""
    decided = Sentence.objects.filter(description=OuterRef("description"), decided_by_id=user.pk)
    return Q(first_reviewer_id=user.pk) | Q(Exists(decided))


def qa_samples_for(*, user: AbstractBaseUser, mine_only: bool = False) -> QuerySet[QASample]:
    """Open samples assigned to `user`, and (unless mine_only) open unassigned ones `user` did
    not decide first; assigned ones first, then oldest first."""
    open_ = QASample.objects.filter(status=QASample.Status.OPEN)
    mine = Q(qa_reviewer_id=user.pk)
    free = Q(qa_reviewer__isnull=True) & ~_first_deciders(user)
    return (
        open_.filter(mine if mine_only else mine | free)
        .select_related("description__product__catalog")
        .order_by(F("qa_reviewer").desc(nulls_last=True), "created_at", "id")
    )


def qa_sample_blinding(*, user: AbstractBaseUser, description_id: int) -> QASample | None:
    """The open QA sample `user` has taken on this description's product, if any: while it is
    open the product's review pages (text with decisions, History) stay hidden from them, so
    the second review stays blind."""
    product = Description.objects.filter(pk=description_id).values("product_id")
    return (
        QASample.objects.filter(
            status=QASample.Status.OPEN, qa_reviewer_id=user.pk, description__product_id__in=Subquery(product)
        )
        .only("id")
        .first()
    )


def _sample_locked(*, sample_id: int, reviewer: AbstractBaseUser) -> QASample:
    sample = QASample.objects.select_for_update().get(pk=sample_id)
    if sample.status != QASample.Status.OPEN:
        raise QARefused("This QA review is done already.")
    if sample.qa_reviewer_id not in (None, reviewer.pk):
        raise QARefused("This QA review is assigned to someone else.")
    if QASample.objects.filter(_first_deciders(reviewer), pk=sample.pk).exists():
        raise QARefused("You decided this description first; a QA review is by someone else.")
    return sample


@transaction.atomic
def qa_sample_take(*, sample: QASample, reviewer: AbstractBaseUser) -> QASample:
    """Assign an open sample to `reviewer` (audited); taking one's own again is a no-op."""
    current = _sample_locked(sample_id=sample.pk, reviewer=reviewer)
    if current.qa_reviewer_id is None:
        current.qa_reviewer = audit_actor(reviewer)
        current.save(update_fields=["qa_reviewer"])
        audit_record(action=AuditAction.QA_SAMPLE_TAKEN, actor=reviewer, description=current.description)
    return current


@dataclass(frozen=True, slots=True)
class QASentenceView:
    """One sentence as the model generated it and the gate scored it: nothing of its decision."""

    index: int
    text: str
    risk: float
    mean_logprob: float | None
    band: str
    reasons: list[str]


def qa_sentences(*, sample: QASample) -> list[QASentenceView]:
    rows = Sentence.objects.filter(description_id=sample.description_id).order_by("index")
    views = []
    for row in rows.values("index", "text", "risk", "mean_logprob", "band", "reasons", "generated_score"):
        scored = row["generated_score"] or row
        views.append(
            QASentenceView(
                index=row["index"],
                text=row["text"],
                risk=scored["risk"],
                mean_logprob=scored["mean_logprob"],
                band=scored["band"],
                reasons=[reason_text(reason) for reason in scored["reasons"]],
            )
        )
    return views


@dataclass(frozen=True, slots=True)
class QAResult:
    sample: QASample
    wrong: int
    escaped: bool
    fix: Description | None
    note: str


@transaction.atomic
def qa_review_submit(*, sample: QASample, reviewer: AbstractBaseUser, verdicts: dict[int, str]) -> QAResult:
    """Record the reviewer's verdict on every sentence of the sample (index -> ok/wrong), close
    it, and open a draft when the live copy carries a wrong sentence unchanged."""
    current = _sample_locked(sample_id=sample.pk, reviewer=reviewer)
    sentences = dict(
        Sentence.objects.filter(description_id=current.description_id).values_list("index", "pk").order_by("index")
    )
    if set(verdicts) != set(sentences) or not set(verdicts.values()) <= set(QAVerdictLabel.values):
        raise QARefused("Give every sentence a verdict: ok or wrong.")
    now = timezone.now()
    QAVerdict.objects.bulk_create(
        [
            QAVerdict(
                sample=current,
                sentence_id=sentences[index],
                verdict=verdict,
                reviewer=audit_actor(reviewer),
                decided_at=now,
            )
            for index, verdict in sorted(verdicts.items())
        ]
    )
    wrong = sorted(index for index, verdict in verdicts.items() if verdict == QAVerdictLabel.WRONG)
    escaped_indexes = list(
        Sentence.objects.filter(
            description_id=current.description_id, index__in=wrong, decision__in=QA_UNCHANGED_DECISIONS
        )
        .order_by("index")
        .values_list("index", flat=True)
    )
    fix, note = None, ""
    if escaped_indexes:
        fix, note = _qa_fix_draft(sample=current, indexes=escaped_indexes, reviewer=reviewer)
    QASample.objects.filter(pk=current.pk).update(
        status=QASample.Status.DONE, completed_at=now, fix=fix, qa_reviewer=audit_actor(reviewer)
    )
    current.refresh_from_db()
    audit_record(
        action=AuditAction.QA_REVIEWED,
        actor=reviewer,
        description=current.description,
        after={"sentences": len(verdicts), "wrong": wrong, "escaped": escaped_indexes, "fix": fix.pk if fix else None},
        note=note,
    )
    return QAResult(sample=current, wrong=len(wrong), escaped=bool(escaped_indexes), fix=fix, note=note)


def _qa_fix_draft(
    *, sample: QASample, indexes: list[int], reviewer: AbstractBaseUser
) -> tuple[Description | None, str]:
    """A new draft of the live copy with the escaped sentences back in review (flagged,
    undecided), as a revert makes one; none when the copy is no longer live or a draft exists."""
    live = Description.objects.select_for_update().get(pk=sample.description_id)
    if live.status != S.PUBLISHED:
        return None, "the sampled copy is no longer live; no draft opened"
    if Description.objects.filter(product_id=live.product_id, status__in=DRAFT_STATUSES).exists():
        return None, "the product has a draft already; it carries the fix"
    listed = ", ".join(str(i + 1) for i in indexes)
    draft = description_create_draft(
        source=live, actor=reviewer, action=AuditAction.QA_SENT_BACK, note=f"QA review: sentence(s) {listed} wrong"
    )
    revision_rows_copy(source=live, target=draft)
    # Back to review as generated: the reviewer of the draft decides them again.
    reopened = list(draft.sentences.filter(index__in=indexes))
    for sentence in reopened:
        sentence.decision, sentence.decided_by, sentence.decided_at = SentenceDecision.NONE, None, None
        sentence.band, sentence.reasons = SentenceBand.FLAG, [*sentence.reasons, QA_WRONG_REASON]
    Sentence.objects.bulk_update(reopened, ["decision", "decided_by", "decided_at", "band", "reasons"])
    return draft, f"draft {draft.pk} opened for review"
