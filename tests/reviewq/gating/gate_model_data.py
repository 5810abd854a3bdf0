"""Descriptions of one model with decided sentences whose signals predict the decision."""

import random

from django.utils import timezone

from reviewq.core.models import Description, DescriptionStatus, Sentence
from tests.factories import ProductFactory


def signals_for(mean_logprob: float, *, hard_flag: bool = False) -> dict:
    return {
        "has_logprobs": True,
        "mean_logprob": mean_logprob,
        "min_logprob": mean_logprob * 2,
        "n_tokens": 12,
        "hard_flag": hard_flag,
        "n_untraced": 1 if mean_logprob < -1 else 0,
    }


def make_labelled(
    *, model: str = "m1", catalog=None, products: int = 6, sentences: int = 10, seed: int = 0, decided: bool = True
) -> list[Description]:
    """`products` descriptions in review, each with `sentences` sentences; a sentence with a low
    mean logprob is (mostly) edited or removed, a high one approved. Bulk-inserted."""
    rng = random.Random(seed)
    now = timezone.now()
    made, rows = [], []
    for _ in range(products):
        product = ProductFactory(**({"catalog": catalog} if catalog is not None else {}))
        description = Description.objects.create(
            product=product, status=DescriptionStatus.REVIEW, model=model, has_logprobs=True, generated_at=now
        )
        made.append(description)
        for index in range(sentences):
            mean = -rng.uniform(0.05, 2.5)
            error = rng.random() < (0.85 if mean < -1.2 else 0.15)
            decision = ("edited" if index % 2 else "rejected") if error else "approved"
            rows.append(
                Sentence(
                    description=description,
                    index=index,
                    char_start=index * 10,
                    char_end=index * 10 + 9,
                    text="Sentence.",
                    mean_logprob=mean,
                    signals=signals_for(mean),
                    decision=decision if decided else "",
                    edited_text="Edited." if decided and decision == "edited" else "",
                    decided_at=now if decided else None,
                    band="review",
                )
            )
    Sentence.objects.bulk_create(rows)
    return made
