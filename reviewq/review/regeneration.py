"""A reviewer asks for new text: the whole description, or one sentence of it."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from generation.queueing import product_generate
from generation.regeneration_requests import sentence_regeneration_open
from reviewq.core.models import Description, Sentence, SentenceRegeneration
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
) -> SentenceRegeneration:
    """Ask for a new version of one sentence; the worker replaces it when the model answers."""
    current = description_review_lock(
        description_id=sentence.description_id, reviewer=reviewer, expected_version=expected_version
    )
    sentence.refresh_from_db()
    return sentence_regeneration_open(
        description=current, sentence=sentence, reviewer=reviewer, page_version=expected_version
    )
