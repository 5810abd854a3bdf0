"""A reviewer asks for new text: the whole description, or one sentence of it."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from generation.dispatch import sentence_regeneration_enqueue
from generation.queueing import product_generate
from generation.sentence_regeneration import REQUESTED
from reviewq.core.audit import audit_record
from reviewq.core.models import AuditEvent, Description, Sentence
from reviewq.review.claims import description_review_lock


@transaction.atomic
def description_regenerate(
    *, description: Description, reviewer: AbstractBaseUser, expected_version: int
) -> Description:
    """Send a description in review back to generation (optimistic lock on the version the
    reviewer saw). The reviewer keeps the claim, so the new text comes back to them."""
    current = description_review_lock(
        description_id=description.pk, reviewer=reviewer, expected_version=expected_version
    )
    product_generate(product=current.product, actor=reviewer)
    current.refresh_from_db()
    return current


@transaction.atomic
def sentence_regeneration_request(
    *, sentence: Sentence, reviewer: AbstractBaseUser, expected_version: int
) -> AuditEvent:
    """Ask for a new version of one sentence; the worker replaces it when the model answers."""
    current = description_review_lock(
        description_id=sentence.description_id, reviewer=reviewer, expected_version=expected_version
    )
    sentence.refresh_from_db()
    request = audit_record(
        action=REQUESTED,
        actor=reviewer,
        description=current,
        sentence_index=sentence.index,
        before={"text": sentence.current_text, "version": expected_version},
        after={"version": current.version},
    )
    sentence_regeneration_enqueue(request_id=request.pk)
    return request
