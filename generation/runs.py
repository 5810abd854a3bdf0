"""Generation runs: an editor's request to generate (part of) a catalog, and its progress.

Services (`run_start`, `run_cancel`, `run_retry_failed`, `run_finish_if_done`) write; the
selectors (`run_options`, `run_progress`) read. Everything a run page shows is in the database,
so a run survives a page reload and a server restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from generation.prompts import validate_template
from generation.providers import provider_name
from generation.queueing import catalog_generate, generation_queue
from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import DRAFT_STATUSES, Catalog, Description, DescriptionStatus, GenerationRun, Product
from reviewq.core.transitions import descriptions_cancel_queued

S = DescriptionStatus
R = GenerationRun.Status
ACTIVE = (S.QUEUED, S.GENERATING)
GENERATED = (S.REVIEW, S.PUBLISHED, S.REJECTED)
MAX_CANDIDATES = 8


class RunRefused(ValueError):
    """The run cannot be started or changed as asked; the message says why."""


# --- options ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunOptions:
    providers: list[tuple[str, str]]  # (value, label); value "" = the configured default
    models: list[tuple[str, str]]
    default_candidates: int


def run_options() -> RunOptions:
    """The provider and model choices an editor may pick, from settings."""
    try:
        default = provider_name(None)
    except ImproperlyConfigured:
        default = "embedded"
    providers = [("", f"Configured default ({default})")]
    if default == "openai":
        providers.append(("openai", "OpenAI-compatible server"))
    providers.append(("embedded", "Embedded model (this machine, free)"))
    models = [("", "Provider default" + (f" ({settings.LLM_MODEL})" if settings.LLM_MODEL else ""))]
    models += [(name, name) for name in settings.LLM_MODEL_CHOICES if name and name != settings.LLM_MODEL]
    return RunOptions(
        providers=providers,
        models=models,
        default_candidates=min(max(settings.LLM_CANDIDATES, 1), MAX_CANDIDATES),
    )


# --- services --------------------------------------------------------------------------------


def run_start(
    *,
    catalog: Catalog,
    actor: AbstractBaseUser | None,
    mode: str = GenerationRun.Mode.MISSING,
    provider: str = "",
    model: str = "",
    prompt_template: str = "",
    candidates: int = 1,
) -> GenerationRun:
    """Create a run, queue its products (set-based) and enqueue one task each after commit.

    Products already queued or generating (by another run) are left to that run, so two runs
    on one catalog never generate a product twice.
    """
    options = run_options()
    if mode not in GenerationRun.Mode.values:
        raise RunRefused(f"Unknown mode {mode!r}.")
    if provider not in {value for value, _ in options.providers}:
        raise RunRefused(f"Provider {provider!r} is not configured.")
    if model not in {value for value, _ in options.models}:
        raise RunRefused(f"Model {model!r} is not configured.")
    if (provider or provider_name(None)) == "embedded" and model:
        raise RunRefused("The embedded provider has one model; leave the model at its default.")
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= MAX_CANDIDATES:
        raise RunRefused(f"Candidates must be between 1 and {MAX_CANDIDATES}.")
    prompt_template = prompt_template.strip()
    if prompt_template:
        try:
            validate_template(prompt_template)
        except ValueError as exc:
            raise RunRefused(str(exc)) from None
    with transaction.atomic():
        run = GenerationRun.objects.create(
            catalog=catalog,
            mode=mode,
            provider=provider,
            model=model,
            prompt_template=prompt_template,
            candidates=candidates,
            created_by=audit_actor(actor),
        )
        queued = catalog_generate(
            catalog=catalog,
            actor=actor,
            only_missing=mode == GenerationRun.Mode.MISSING,
            only_failed=mode == GenerationRun.Mode.FAILED,
            run=run,
        )
        if queued:
            GenerationRun.objects.filter(pk=run.pk).update(queued=len(queued))
        else:
            GenerationRun.objects.filter(pk=run.pk).update(queued=0, status=R.FINISHED, finished_at=timezone.now())
        audit_record(
            action=AuditAction.RUN_STARTED,
            actor=actor,
            catalog=catalog,
            after={
                "run": run.pk,
                "mode": mode,
                "provider": provider,
                "model": model,
                "candidates": candidates,
                "queued": len(queued),
            },
        )
    run.refresh_from_db()
    return run


@transaction.atomic
def run_cancel(*, run: GenerationRun, actor: AbstractBaseUser | None) -> int:
    """Drop the run's queued work, set-based and audited: a draft that was queued from review,
    rejected or failed goes back to that, a new one becomes CANCELLED; live copies were never
    touched. In-flight descriptions finish normally; a task delivered later finds nothing to
    claim. Returns the number of descriptions dropped."""
    run = GenerationRun.objects.select_for_update().get(pk=run.pk)
    if run.status != R.RUNNING:
        raise RunRefused(f"This run is {run.get_status_display().lower()}; only a running run can be cancelled.")
    now = timezone.now()
    who = actor.get_username() if actor is not None and actor.is_authenticated else "the system"
    # A row a worker claims meanwhile is in flight: the UPDATE's status condition leaves it alone.
    dropped = len(
        descriptions_cancel_queued(
            descriptions=Description.objects.filter(run=run), actor=actor, note=f"Cancelled by {who} with run {run.pk}."
        )
    )
    GenerationRun.objects.filter(pk=run.pk).update(status=R.CANCELLED, finished_at=now)
    audit_record(
        action=AuditAction.RUN_CANCELLED,
        actor=actor,
        catalog_id=run.catalog_id,
        before={"run": run.pk, "status": R.RUNNING},
        after={"status": R.CANCELLED, "dropped": dropped},
    )
    return dropped


def run_retry_failed(*, run: GenerationRun, actor: AbstractBaseUser | None) -> list[int]:
    """Queue the run's failed products again (cancelled ones included) and set it running."""
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update().get(pk=run.pk)
        product_ids = list(
            Description.objects.filter(run=run, status__in=[S.FAILED, S.CANCELLED]).values_list("product_id", flat=True)
        )
        if not product_ids:
            raise RunRefused("This run has no failed products to retry.")
        queued = generation_queue(product_ids=product_ids, actor=actor, only_failed=True, run=run)
        GenerationRun.objects.filter(pk=run.pk).update(status=R.RUNNING, finished_at=None)
        audit_record(
            action=AuditAction.RUN_RETRIED,
            actor=actor,
            catalog_id=run.catalog_id,
            before={"run": run.pk, "status": run.status},
            after={"status": R.RUNNING, "queued": len(queued)},
        )
    return queued


def run_finish_if_done(*, description_id: int | None = None, run_id: int | None = None) -> bool:
    """Mark the run (given, or the one that queued the description) finished once none of its
    descriptions is queued or generating; one conditional UPDATE, safe to call any time."""
    if run_id is None and description_id is not None:
        run_id = Description.objects.filter(pk=description_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return False
    active = Description.objects.filter(run=OuterRef("pk"), status__in=ACTIVE)
    return bool(
        GenerationRun.objects.filter(pk=run_id, status=R.RUNNING)
        .exclude(Exists(active))
        .update(status=R.FINISHED, finished_at=timezone.now())
    )


# --- selectors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunFailure:
    product_id: int
    sku: str
    name: str
    error_code: str
    error: str


@dataclass(frozen=True, slots=True)
class RunProgress:
    run: GenerationRun
    counts: dict[str, int]  # description status -> count, every status present
    total: int
    done: int
    percent: int
    tokens: int
    estimated_cost: float
    per_minute: float | None
    elapsed_seconds: float
    failures: list[RunFailure]
    failures_total: int

    @property
    def active(self) -> int:
        return self.counts[S.QUEUED] + self.counts[S.GENERATING]

    @property
    def polling(self) -> bool:
        """The page keeps polling while anything can still change."""
        return self.run.status == R.RUNNING or self.active > 0

    @property
    def status_rows(self) -> list[tuple[str, str, int]]:
        return [(value, label, self.counts[value]) for value, label in S.choices]


def run_price_per_1k(run: GenerationRun) -> float:
    """The embedded model costs nothing; other providers use LLM_PRICE_PER_1K_TOKENS."""
    try:
        provider = provider_name(run.provider or None)
    except ImproperlyConfigured:
        return 0.0
    return 0.0 if provider == "embedded" else settings.LLM_PRICE_PER_1K_TOKENS


def run_progress(*, run_id: int, failures_limit: int = 50) -> RunProgress:
    """Counts per state, throughput, tokens and cost of a run, in two aggregate queries."""
    run = GenerationRun.objects.select_related("catalog", "created_by").get(pk=run_id)
    rows = Description.objects.filter(run=run)
    aggregates = rows.aggregate(
        **{f"n_{value}": Count("id", filter=Q(status=value)) for value in S.values},
        tokens=Sum(
            F("prompt_tokens") + F("completion_tokens"),
            filter=Q(status__in=GENERATED, generated_at__gte=run.created_at),
        ),
        generated=Count("id", filter=Q(generated_at__gte=run.created_at)),
        first=Min("generated_at", filter=Q(generated_at__gte=run.created_at)),
        last=Max("generated_at", filter=Q(generated_at__gte=run.created_at)),
    )
    counts = {value: aggregates[f"n_{value}"] for value in S.values}
    total = sum(counts.values())
    done = total - counts[S.QUEUED] - counts[S.GENERATING]
    end: datetime = run.finished_at or timezone.now()
    elapsed = max((end - run.created_at).total_seconds(), 0.0)
    # Throughput over the time generation actually took (first start to last result).
    generated = aggregates["generated"]
    span = (aggregates["last"] - run.created_at).total_seconds() if aggregates["last"] else 0.0
    per_minute = generated / span * 60 if generated and span > 0 else None
    tokens = aggregates["tokens"] or 0
    failures_qs = rows.filter(status=S.FAILED).select_related("product").order_by("product__sku")
    failures = [
        RunFailure(
            product_id=d.product_id, sku=d.product.sku, name=d.product.name, error_code=d.error_code, error=d.error
        )
        for d in failures_qs[:failures_limit]
    ]
    return RunProgress(
        run=run,
        counts=counts,
        total=total,
        done=done,
        percent=100 if total == 0 else int(done * 100 / total),
        tokens=tokens,
        estimated_cost=round(tokens / 1000 * run_price_per_1k(run), 4),
        per_minute=per_minute,
        elapsed_seconds=elapsed,
        failures=failures,
        failures_total=counts[S.FAILED],
    )


def catalog_runs(*, catalog: Catalog, limit: int = 20) -> list[GenerationRun]:
    return list(GenerationRun.objects.filter(catalog=catalog).select_related("created_by")[:limit])


@dataclass(frozen=True, slots=True)
class CatalogSummary:
    catalog: Catalog
    products: int
    published: int
    running_runs: int


def catalog_summaries(*, catalog_id: int | None = None) -> list[CatalogSummary]:
    running = GenerationRun.objects.filter(catalog=OuterRef("pk"), status=R.RUNNING)
    catalogs = Catalog.objects.filter(pk=catalog_id) if catalog_id is not None else Catalog.objects.all()
    rows = catalogs.annotate(
        n_products=Count("products", distinct=True),
        n_published=Count("products", filter=Q(products__descriptions__status=S.PUBLISHED), distinct=True),
        has_running=Exists(running),
    ).order_by("name")
    return [
        CatalogSummary(catalog=c, products=c.n_products, published=c.n_published, running_runs=int(c.has_running))
        for c in rows
    ]


@dataclass(frozen=True, slots=True)
class ModeImpact:
    mode: str
    label: str
    products: int  # products the mode would queue
    live: int  # of which have a live copy: it stays live, a draft is written beside it
    in_review: int  # of which have a draft under review or rejected: that draft is regenerated


def run_mode_impacts(*, catalog: Catalog) -> list[ModeImpact]:
    """What each run mode would queue, and how many of those have a live copy or a draft under
    review, for the run form: one aggregate over the catalog's products."""
    revisions = Description.objects.filter(product=OuterRef("pk"))
    draft = Coalesce(Subquery(revisions.filter(status__in=DRAFT_STATUSES).values("status")[:1]), Value(""))
    rows = Product.objects.filter(catalog=catalog).annotate(
        has_live=Exists(revisions.filter(status=S.PUBLISHED)), draft=draft
    )
    queued_by = {
        GenerationRun.Mode.ALL: ~Q(draft__in=ACTIVE),
        GenerationRun.Mode.MISSING: Q(has_live=False, draft__in=["", S.CANCELLED]),
        GenerationRun.Mode.FAILED: Q(draft__in=[S.FAILED, S.CANCELLED]),
    }
    counts = rows.aggregate(
        **{
            f"{mode}_{part}": Count("id", filter=queued_by[mode] & extra)
            for mode in queued_by
            for part, extra in (
                ("products", Q()),
                ("live", Q(has_live=True)),
                ("review", Q(draft__in=[S.REVIEW, S.REJECTED])),
            )
        }
    )
    return [
        ModeImpact(
            mode=mode,
            label=label,
            products=counts[f"{mode}_products"],
            live=counts[f"{mode}_live"],
            in_review=counts[f"{mode}_review"],
        )
        for mode, label in GenerationRun.Mode.choices
    ]
