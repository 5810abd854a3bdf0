"""Builds descriptions in review with sentences and tokens, the way storage writes them."""

from django.utils import timezone

from reviewq.core.models import Description, DescriptionStatus, ErrorCategory, Sentence, Token
from tests.factories import DescriptionFactory, ProductFactory

DEFAULT_SENTENCES = [
    (
        "publish",
        [("This", -0.01), (" bottle", -0.05), (" keeps", -0.2), (" drinks", -0.1), (" cold", -0.02), (".", -0.01)],
    ),
    (
        "flag",
        [
            (" It", -0.1),
            (" holds", -0.3),
            (" 900", -2.9, [[" 750", -0.4], [" 900", -2.9], [" 500", -3.1]]),
            (" ml", -0.1),
            (".", -0.01),
        ],
    ),
    (
        "review",
        [
            (" Made", -0.2),
            (" of", -0.05),
            (" sturdy", -1.2, [[" steel", -0.6], [" sturdy", -1.2]]),
            (" steel", -0.3),
            (".", -0.02),
        ],
    ),
]


# As migration 0010 seeds them (tests/reviewq/review/test_categories.py checks they agree).
ERROR_CATEGORIES = [
    ("1", "Invented fact", True),
    ("2", "Contradicts attributes", True),
    ("3", "Wrong number or unit", True),
    ("4", "Nonsense or garbled", True),
    ("5", "Style only", False),
]


def error_categories_seeded() -> None:
    """The seeded categories, for tests on a transactional database (a flush empties them)."""
    for key, label, counts_as_error in ERROR_CATEGORIES:
        ErrorCategory.objects.get_or_create(key=key, defaults={"label": label, "counts_as_error": counts_as_error})


def make_review_description(
    *, sentences=None, product=None, risk=0.8, status=DescriptionStatus.REVIEW, reasons=None
) -> Description:
    """`sentences`: [(band, [(token text, logprob[, alternatives]), ...]), ...]."""
    sentences = DEFAULT_SENTENCES if sentences is None else sentences
    text = "".join(t[0] for _, tokens in sentences for t in tokens)
    fields = {"published_at": timezone.now()} if status == DescriptionStatus.PUBLISHED else {}
    description = DescriptionFactory(
        product=product or ProductFactory(), status=status, text=text, risk=risk, has_logprobs=True, **fields
    )
    offset = 0
    position = 0
    for index, (band, tokens) in enumerate(sentences):
        sentence_text = "".join(t[0] for t in tokens)
        logprobs = [t[1] for t in tokens if t[1] is not None]
        sentence = Sentence.objects.create(
            description=description,
            index=index,
            char_start=offset,
            char_end=offset + len(sentence_text),
            text=sentence_text,
            band=band,
            mean_logprob=sum(logprobs) / len(logprobs) if logprobs else None,
            min_logprob=min(logprobs) if logprobs else None,
            risk={"publish": 0.1, "review": 0.5, "flag": 0.9}[band],
            reasons=(reasons or {}).get(
                index, [f"low probability in sentence {index + 1}"] if band != "publish" else []
            ),
        )
        for token in tokens:
            alternatives = token[2] if len(token) > 2 else [[token[0], token[1]]]
            Token.objects.create(
                description=description,
                sentence=sentence,
                position=position,
                char_start=offset,
                text=token[0],
                bytes=token[0].encode(),
                logprob=token[1],
                alternatives=alternatives,
            )
            offset += len(token[0])
            position += 1
    return description


BOTTLE_SENTENCES = [
    (
        "publish",
        [
            ("This", -0.02),
            (" insulated", -0.3, [[" insulated", -0.3], [" stainless", -1.6], [" reusable", -2.4]]),
            (" steel", -0.05),
            (" bottle", -0.01),
            (" keeps", -0.2),
            (" drinks", -0.15),
            (" cold", -0.08),
            (" for", -0.01),
            (" 24", -0.4, [[" 24", -0.4], [" 12", -1.3], [" 48", -3.0]]),
            (" hours", -0.02),
            (".", -0.01),
        ],
    ),
    (
        "flag",
        [
            (" It", -0.05),
            (" holds", -0.4, [[" holds", -0.4], [" has", -1.4]]),
            (" 900", -2.9, [[" 750", -0.4], [" 900", -2.9], [" 500", -3.1], [" 1", -3.8]]),
            (" ml", -0.1),
            (",", -0.9, [[",", -0.9], [" and", -0.7]]),
            (" so", -0.6),
            (" it", -0.1),
            (" fits", -0.3),
            (" most", -0.8, [[" most", -0.8], [" all", -1.1], [" standard", -1.9]]),
            (" cup", -0.2),
            (" holders", -0.05),
            (".", -0.01),
        ],
    ),
    (
        "review",
        [
            (" The", -0.1),
            (" powder", -1.1, [[" matte", -0.9], [" powder", -1.1], [" glossy", -2.2]]),
            ("-coated", -0.3),
            (" finish", -0.1),
            (" comes", -0.5),
            (" in", -0.02),
            (" ocean", -1.7, [[" navy", -0.8], [" ocean", -1.7], [" sky", -2.0]]),
            (" blue", -0.05),
            (".", -0.01),
        ],
    ),
    (
        "publish",
        [
            (" It", -0.1),
            (" is", -0.05),
            (" dishwasher", -0.6, [[" dishwasher", -0.6], [" easy", -1.0]]),
            (" safe", -0.02),
            (".", -0.01),
        ],
    ),
]
BOTTLE_REASONS = {
    1: ["Number 900 ml is not in the attributes (capacity: 750 ml)", "Lowest token probability 5 % (“ 900”)"],
    2: ["Mean token probability 58 % is below the publish threshold"],
}


def make_bottle_description(**kwargs) -> Description:
    """A realistic description for browser tests and screenshots."""
    from tests.factories import ProductFactory

    product = kwargs.pop("product", None) or ProductFactory(
        name="Trail insulated bottle 750 ml",
        sku="TB-750-BLU",
        attributes={
            "material": "stainless steel",
            "capacity": "750 ml",
            "colour": "navy blue",
            "keeps cold": "24 h",
            "finish": "matte powder coat",
            "dishwasher safe": True,
        },
    )
    return make_review_description(sentences=BOTTLE_SENTENCES, reasons=BOTTLE_REASONS, product=product, **kwargs)
