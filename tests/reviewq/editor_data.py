"""Users per role and stored descriptions with scored sentences, for the editor/admin tests."""

from django.contrib.auth.models import Group
from django.utils import timezone

from reviewq.core.models import Description, DescriptionStatus, Sentence, Token
from reviewq.core.roles import roles_ensure
from tests.factories import DescriptionFactory, ProductFactory, UserFactory

ROLE_NAMES = ("anonymous", "reviewer", "editor", "admin")


def role_user(role: str):
    """A user in the role's group (None for anonymous); roles are created on first use."""
    if role == "anonymous":
        return None
    if not Group.objects.filter(name=role).exists():
        roles_ensure()
    user = UserFactory(username=f"{role}-{UserFactory._meta.model.objects.count()}")
    user.groups.add(Group.objects.get(name=role))
    return user


def client_for(client, role: str):
    user = role_user(role)
    if user is not None:
        client.force_login(user)
    return client, user


def make_description(
    *,
    product=None,
    catalog=None,
    status=DescriptionStatus.REVIEW,
    sentences=((-0.2, "publish", ""),),
    with_tokens: bool = False,
    generated_at=None,
    published_at=None,
) -> Description:
    """`sentences`: (mean_logprob or None, band, decision) per sentence."""
    product = product or ProductFactory(**({"catalog": catalog} if catalog is not None else {}))
    now = timezone.now()
    if status == DescriptionStatus.PUBLISHED:
        published_at = published_at or now
    texts = [f"Sentence {i} of {product.sku}. " for i in range(len(sentences))]
    description = DescriptionFactory(
        product=product,
        status=status,
        text="".join(texts),
        has_logprobs=True,
        generated_at=generated_at or now,
        published_at=published_at,
        risk=0.5,
        prompt_tokens=40,
        completion_tokens=20,
    )
    offset = 0
    for index, ((mean, band, decision), text) in enumerate(zip(sentences, texts, strict=True)):
        sentence = Sentence.objects.create(
            description=description,
            index=index,
            char_start=offset,
            char_end=offset + len(text),
            text=text,
            band=band,
            mean_logprob=mean,
            min_logprob=mean,
            decision=decision,
            edited_text=f"Edited {index}. " if decision == "edited" else "",
            decided_at=now if decision else None,
            risk=0.9 if mean is None else min(0.99, max(0.01, -mean / 4)),
            reasons=["a stored reason"] if band != "publish" else [],
        )
        if with_tokens:
            for position, word in enumerate(text.split(" ")):
                piece = word if position == 0 else " " + word
                Token.objects.create(
                    description=description,
                    sentence=sentence,
                    position=index * 100 + position,
                    char_start=offset,
                    text=piece,
                    bytes=piece.encode(),
                    logprob=mean,
                    alternatives=[[piece, mean], [" other", -3.0]],
                )
                offset += len(piece)
        else:
            offset += len(text)
    return description
