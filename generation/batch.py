"""OpenAI Batch API: export chat-completion requests for a catalog, import the results.

A request's custom_id is "product-<id>" (plus the SKU after a colon, for people reading the
file); results are stored through the same claim and storage path as the workers use, in chunks
(generation.storage.completions_store).
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from generation.prompts import build_messages, prompt_text
from generation.providers import other_candidates, pick_best
from generation.providers.common import json_loads
from generation.providers.openai_compat import completion_from_openai
from generation.queueing import description_claim_for_generation, descriptions_queue
from generation.services import description_fail
from generation.storage import StoreRequest, completions_store
from reviewq.core.models import CURRENT_STATUSES, Catalog, Product
from reviewq.core.transitions import ConflictError


def custom_id_for(product: Product) -> str:
    return f"product-{product.pk}:{product.sku}"


def product_id_from_custom_id(custom_id: str) -> int:
    head = custom_id.split(":", 1)[0]
    if not head.startswith("product-") or not head[len("product-") :].isdigit():
        raise ValueError(f"custom_id {custom_id!r} was not made by reviewq (expected 'product-<id>:<sku>')")
    return int(head[len("product-") :])


def _messages_for(product: Product) -> list[dict]:
    return build_messages(
        name=product.name, sku=product.sku, attributes=product.attributes, template=product.catalog.prompt_template
    )


def batch_requests_build(*, catalog: Catalog, only_missing: bool = False, model: str = "") -> Iterator[dict]:
    products = Product.objects.filter(catalog=catalog).select_related("catalog").order_by("id")
    if only_missing:
        products = products.exclude(descriptions__status__in=CURRENT_STATUSES)
    for product in products.iterator(chunk_size=1000):
        body = {
            "model": model or settings.LLM_MODEL or "gpt-4o-mini",
            "messages": _messages_for(product),
            "logprobs": True,
            "top_logprobs": settings.LLM_TOP_LOGPROBS,
            "max_tokens": settings.LLM_MAX_TOKENS,
            "temperature": settings.LLM_TEMPERATURE,
        }
        if settings.LLM_CANDIDATES > 1:
            body["n"] = settings.LLM_CANDIDATES
        yield {"custom_id": custom_id_for(product), "method": "POST", "url": "/v1/chat/completions", "body": body}


@dataclass
class BatchImportResult:
    stored: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)


STORE_CHUNK = 200  # result lines stored per transaction


def batch_results_import(
    *,
    lines: Iterable[bytes | str],
    actor: AbstractBaseUser | None = None,
    progress: Callable[[int], object] | None = None,
) -> BatchImportResult:
    """Store each result line; a bad line is reported with its number and the rest goes on.

    Error lines (request failed at the provider) end their description in FAILED with the
    provider's message. A product whose description a worker is generating right now is
    skipped rather than overwritten. Good results are stored STORE_CHUNK per transaction
    (completions_store); each keeps its own claim, so one taken over does not hold back the rest.
    """
    result = BatchImportResult()
    read: list[tuple[int, int | None, dict]] = []  # (line number, product id or None: unreadable, record)
    for number, raw in enumerate(lines, start=1):
        if progress:
            progress(number)
        raw = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not raw.strip():
            continue
        try:
            record = json_loads(raw)
            product_id = product_id_from_custom_id(str(record.get("custom_id", "")))
        except (ValueError, AttributeError) as exc:
            read.append((number, None, {"error": f"not a Batch API result line: {exc}"}))
            continue
        if any(pid == product_id for _, pid, _ in read):
            _read_store(read, result, actor=actor)  # a repeated product: store the earlier line first
        read.append((number, product_id, record))
        if len(read) >= STORE_CHUNK:
            _read_store(read, result, actor=actor)
    _read_store(read, result, actor=actor)
    return result


def _read_store(
    read: list[tuple[int, int | None, dict]], result: BatchImportResult, *, actor: AbstractBaseUser | None
) -> None:
    """The read lines' products in one query (line errors reported in line order), then store them."""
    products = Product.objects.select_related("catalog").in_bulk([pid for _, pid, _ in read if pid is not None])
    chunk: list[tuple[int, Product, dict]] = []
    for number, product_id, record in read:
        if product_id is None:
            result.errors.append((number, record["error"]))
        elif product_id not in products:
            result.errors.append((number, f"no product with id {product_id}"))
        else:
            chunk.append((number, products[product_id], record))
    read.clear()
    _chunk_store(chunk, result, actor=actor)


def _chunk_store(
    chunk: list[tuple[int, Product, dict]], result: BatchImportResult, *, actor: AbstractBaseUser | None
) -> None:
    """Queue and claim the chunk's products, fail the error lines, store the rest together."""
    if not chunk:
        return
    descriptions_queue(product_ids=[product.pk for _, product, _ in chunk], actor=actor)
    pending: list[tuple[int, StoreRequest]] = []  # (line number, request)
    for number, product, record in chunk:
        description = description_claim_for_generation(
            product_id=product.pk, lease_seconds=settings.GENERATION_LEASE_SECONDS
        )
        if description is None:
            result.skipped += 1
            result.errors.append((number, f"product {product.sku} is being generated by a worker; skipped"))
            continue
        error = _batch_error(record)
        if error is not None:
            description_fail(description=description, error_code="batch_error", error=error)
            result.failed += 1
            continue
        try:
            candidates = completion_from_openai(record["response"]["body"], provider="openai-batch")
            completion = pick_best(candidates)
        except (KeyError, TypeError, ValueError) as exc:
            description_fail(description=description, error_code="batch_error", error=f"unreadable result body: {exc}")
            result.failed += 1
            result.errors.append((number, f"unreadable result body: {exc}"))
            continue
        pending.append(
            (
                number,
                StoreRequest(
                    description=description,
                    completion=completion,
                    prompt=prompt_text(_messages_for(product)),
                    claim_version=description.version,
                    other_candidates=other_candidates(candidates, completion),
                ),
            )
        )
    stored_all = completions_store([request for _, request in pending])
    for (number, request), stored in zip(pending, stored_all, strict=True):
        if isinstance(stored, ConflictError):
            result.skipped += 1
            result.errors.append(
                (
                    number,
                    f"product {request.description.product.sku} was taken over by a worker while importing; skipped",
                )
            )
        elif stored.status == "failed":
            result.failed += 1
        else:
            result.stored += 1
    chunk.clear()


def _batch_error(record: dict) -> str | None:
    if record.get("error"):
        err = record["error"]
        return f"{err.get('code', 'error')}: {err.get('message', '')}" if isinstance(err, dict) else str(err)
    response = record.get("response") or {}
    status = response.get("status_code", 200)
    if status != 200:
        body = response.get("body") or {}
        message = (body.get("error") or {}).get("message", "") if isinstance(body, dict) else ""
        return f"HTTP {status}: {message}".strip()
    return None
