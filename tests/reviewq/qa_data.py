"""Published descriptions drawn for QA through the real publishing paths (catalog rate 100%)."""

from reviewq.core.audit import AuditAction
from reviewq.core.models import Catalog, Description, DescriptionStatus, QASample
from reviewq.core.transitions import description_transition
from reviewq.review.claims import description_review_claim
from reviewq.review.decisions import description_approve
from reviewq.review.sentences import sentence_approve, sentence_edit, sentence_remove
from tests.factories import CatalogFactory, ProductFactory
from tests.reviewq.review_data import make_review_description

EDITED_TEXT = " It holds 750 ml as the label says."
AUTO_SENTENCES = [
    ("publish", [("This", -0.01), (" bottle", -0.05), (" keeps", -0.2), (" drinks", -0.1), (" cold", -0.02), (".", -0.01)]),
    ("publish", [(" It", -0.1), (" holds", -0.3), (" 900", -0.4), (" ml", -0.1), (".", -0.01)]),
]  # fmt: skip


def sampled_catalog(*, auto: float = 1.0, approved: float = 1.0) -> Catalog:
    return CatalogFactory(qa_rate_auto=auto, qa_rate_approved=approved)


def published_by_review(*, reviewer, catalog: Catalog, edit: int | None = None, remove: int | None = None) -> QASample:
    """The default three sentences decided by `reviewer` (approved unless edited or removed), then
    approved: sampled with reason "approved"."""
    description = make_review_description(product=ProductFactory(catalog=catalog))
    description_review_claim(description=description, reviewer=reviewer)
    for sentence in description.sentences.order_by("index"):
        version = Description.objects.get(pk=description.pk).version
        if sentence.index == edit:
            sentence_edit(sentence=sentence, reviewer=reviewer, text=EDITED_TEXT, expected_version=version)
        elif sentence.index == remove:
            sentence_remove(sentence=sentence, reviewer=reviewer, expected_version=version)
        else:
            sentence_approve(sentence=sentence, reviewer=reviewer, expected_version=version)
    current = Description.objects.get(pk=description.pk)
    description_approve(description=current, reviewer=reviewer, expected_version=current.version)
    return QASample.objects.get(description=description)


def published_by_gate(*, catalog: Catalog) -> QASample:
    """Two confident sentences the gate publishes (a re-gate): sampled with reason "auto"."""
    description = make_review_description(product=ProductFactory(catalog=catalog), sentences=AUTO_SENTENCES)
    description_transition(description=description, to_status=DescriptionStatus.PUBLISHED, action=AuditAction.REGATED)
    return QASample.objects.get(description=description)
