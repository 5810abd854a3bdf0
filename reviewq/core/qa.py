"""QA samples are drawn when a description is published (reviewq/core/transitions.py calls
qa_samples_draw for every move to PUBLISHED): an auto-published one (the gate published it)
or a reviewer-approved one is sampled when its draw is below its catalog's rate for that reason.

The draw is uniform in [0, 1), seeded by the decision (an HMAC of the revision's id under the
SECRET_KEY): reproducible, independent of everything a reviewer or the gate sees, and not
predictable by whoever approves. So the samples are a random subset of each (catalog, reason)
population and the error rate measured on them is an unbiased estimate of its escape rate.
"""

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, CharField, F, When

from reviewq.core.audit import AuditAction, audit_actor, audit_rows
from reviewq.core.models import Description, QASample, QASampleReason, SentenceDecision

# First decisions that leave the generated sentence in the live copy as it was: a QA "wrong"
# on one of these is an error that escaped into the live copy.
QA_UNCHANGED_DECISIONS = (SentenceDecision.NONE, SentenceDecision.APPROVED)


def qa_label(prefix: str = "") -> Case:
    """A QAVerdict's label for the gate and the figures, in SQL: the admin's resolution when
    there is one, else the QA reviewer's verdict. `prefix` reaches the verdict from another model."""
    return Case(
        When(**{f"{prefix}resolved": ""}, then=F(f"{prefix}verdict")),
        default=F(f"{prefix}resolved"),
        output_field=CharField(),
    )


# The publishing actions and the population their descriptions belong to.
QA_REASON_BY_ACTION: dict[str, QASampleReason] = {
    AuditAction.GENERATED: QASampleReason.AUTO,
    AuditAction.REGATED: QASampleReason.AUTO,
    AuditAction.REVIEW_APPROVED: QASampleReason.APPROVED,
}


def qa_draw(*, description_id: int) -> float:
    """The decision's uniform draw in [0, 1): 53 bits of HMAC-SHA256(SECRET_KEY, id)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"qa-sample:{description_id}".encode(), hashlib.sha256).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def qa_samples_draw(*, description_ids: list[int], action: str, actor: AbstractBaseUser | None) -> list[int]:
    """Draw the just-published descriptions for QA, set-based: one read of their catalogs'
    rates, one insert of the samples, one audit insert. Returns the ids sampled."""
    reason = QA_REASON_BY_ACTION.get(action)
    if reason is None or not description_ids:
        return []
    rate_field = (
        "product__catalog__qa_rate_auto" if reason == QASampleReason.AUTO else "product__catalog__qa_rate_approved"
    )
    rows = Description.objects.filter(pk__in=description_ids, **{f"{rate_field}__gt": 0}).values_list(
        "pk", "product__catalog_id", rate_field
    )
    first_reviewer = audit_actor(actor) if reason == QASampleReason.APPROVED else None
    sampled = []
    for pk, catalog_id, rate in rows:
        draw = qa_draw(description_id=pk)
        if draw < rate:
            sampled.append((pk, catalog_id, draw, rate))
    QASample.objects.bulk_create(
        [
            QASample(description_id=pk, reason=reason, draw=draw, rate=rate, first_reviewer=first_reviewer)
            for pk, _, draw, rate in sampled
        ],
        ignore_conflicts=True,
    )
    audit_rows(
        action=AuditAction.QA_SAMPLED,
        actor=None,
        rows=[
            {
                "description_id": pk,
                "catalog_id": catalog_id,
                "after": {"reason": str(reason), "draw": draw, "rate": rate},
            }
            for pk, catalog_id, draw, rate in sampled
        ],
    )
    return sorted(pk for pk, *_ in sampled)
