"""Comments on a description: notes for the people reviewing it, shown in History."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import Comment, Description
from reviewq.review.sentences import EditRefused


@transaction.atomic
def comment_add(*, description: Description, author: AbstractBaseUser, text: str) -> Comment:
    """Add a comment. It does not touch the description (no version bump, no claim), so anyone
    who may review can comment on any revision, also one someone else holds."""
    text = text.strip()
    if not text:
        raise EditRefused("Write the comment first.")
    comment = Comment.objects.create(description=description, author=audit_actor(author), text=text)
    audit_record(
        action=AuditAction.COMMENT_ADDED,
        actor=author,
        description=description,
        after={"comment": comment.pk},
        note=text,
    )
    return comment
