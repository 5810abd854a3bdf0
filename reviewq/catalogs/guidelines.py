"""Per-catalog reviewer guidelines: what to check, shown on every review page of the catalog."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from reviewq.core.audit import AuditAction, audit_record
from reviewq.core.models import GUIDELINES_MAX_CHARS, Catalog


class GuidelinesRefused(ValueError):
    """The guidelines are too long."""


@transaction.atomic
def catalog_guidelines_update(*, catalog: Catalog, guidelines: str, actor: AbstractBaseUser) -> Catalog:
    """Set the catalog's guidelines (line breaks kept, as \\n); audited with both texts."""
    guidelines = guidelines.replace("\r\n", "\n").strip()
    if len(guidelines) > GUIDELINES_MAX_CHARS:
        raise GuidelinesRefused(f"Keep the guidelines to {GUIDELINES_MAX_CHARS} characters.")
    catalog = Catalog.objects.select_for_update().get(pk=catalog.pk)
    if guidelines == catalog.guidelines:
        return catalog
    audit_record(
        action=AuditAction.CATALOG_GUIDELINES_CHANGED,
        actor=actor,
        catalog=catalog,
        before={"guidelines": catalog.guidelines},
        after={"guidelines": guidelines},
    )
    catalog.guidelines = guidelines
    catalog.save(update_fields=["guidelines"])
    return catalog
