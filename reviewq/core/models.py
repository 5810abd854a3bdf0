"""reviewq's data model.

Description.status is changed only by reviewq/core/transitions.py, which refuses illegal
source states and writes an AuditEvent row for every change. AuditEvent rows are only
inserted; work in progress (sentence regeneration requests, token substitutions) has columns
and models of its own. The database enforces what it can: allowed values, spans,
version >= 1, one live revision and one draft per product, one open regeneration per sentence.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Length
from django.db.models.lookups import LessThanOrEqual


class DescriptionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    GENERATING = "generating", "Generating"
    REVIEW = "review", "Needs review"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    ARCHIVED = "archived", "Earlier revision"


# A product has at most one live revision (PUBLISHED) and at most one working draft (one of
# DRAFT_STATUSES); every other revision it ever had is ARCHIVED. The database enforces both.
DRAFT_STATUSES = (
    DescriptionStatus.QUEUED,
    DescriptionStatus.GENERATING,
    DescriptionStatus.REVIEW,
    DescriptionStatus.REJECTED,
    DescriptionStatus.FAILED,
    DescriptionStatus.CANCELLED,
)
# A product with a revision in one of these is not "missing" (only archived ones: it is).
CURRENT_STATUSES = (DescriptionStatus.PUBLISHED, *DRAFT_STATUSES)


class SentenceBand(models.TextChoices):
    PUBLISH = "publish", "Publish"
    REVIEW = "review", "Review"
    FLAG = "flag", "Flag"


class SentenceDecision(models.TextChoices):
    NONE = "", "Undecided"
    APPROVED = "approved", "Approved"
    EDITED = "edited", "Edited"
    REJECTED = "rejected", "Removed"


# Decisions that say the model's sentence was wrong, so a reviewer may say why (ErrorCategory).
CATEGORISED_DECISIONS = ("edited", "rejected")
# The keys a reviewer presses to choose a category: digits, so none is one of the review page's
# own shortcuts (a, e, r, j, k, ?).
ERROR_CATEGORY_KEYS = tuple("123456789")
GUIDELINES_MAX_CHARS = 5000


class ErrorCategory(models.Model):
    """Why a reviewer edited, removed or rejected: an admin-editable list, each chosen with one key.
    A category that does not count as an error (style only) makes its sentence an "ok" label."""

    key = models.CharField(
        max_length=1, unique=True, choices=[(k, k) for k in ERROR_CATEGORY_KEYS], help_text="The key that chooses it."
    )
    label = models.CharField(max_length=60, unique=True)
    counts_as_error = models.BooleanField(
        default=True, help_text="The model was wrong: the gate learns the sentence as an error. Off for style only."
    )
    active = models.BooleanField(default=True, help_text="Offered to reviewers; earlier decisions keep it either way.")

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "error categories"
        constraints = [
            models.CheckConstraint(condition=Q(key__in=ERROR_CATEGORY_KEYS), name="error_category_key_valid"),
            models.CheckConstraint(condition=~Q(label=""), name="error_category_label_not_empty"),
        ]

    def __str__(self) -> str:
        return self.label


class Catalog(models.Model):
    name = models.CharField(max_length=200, unique=True)
    prompt_template = models.TextField(
        blank=True,
        help_text="Prompt for this catalog; empty uses the default. Placeholders: "
        "{name}, {sku}, {attributes}, {sentences}.",
    )
    publish_confident_now = models.BooleanField(
        default=False,
        help_text="Publish confident sentences at once and add reviewed ones later.",
    )
    guidelines = models.TextField(
        blank=True, help_text="What reviewers of this catalog should check; on the review page."
    )
    qa_rate_auto = models.FloatField(
        default=0.0, help_text="Share of auto-published descriptions drawn for a second (QA) review."
    )
    qa_rate_approved = models.FloatField(
        default=0.0, help_text="Share of reviewer-approved descriptions drawn for a second (QA) review."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_catalogs", "Can import catalogs and start generation runs"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("guidelines"), GUIDELINES_MAX_CHARS), name="catalog_guidelines_length"
            ),
            models.CheckConstraint(
                condition=Q(qa_rate_auto__gte=0, qa_rate_auto__lte=1, qa_rate_approved__gte=0, qa_rate_approved__lte=1),
                name="catalog_qa_rates_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["catalog_id", "sku"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "sku"], name="product_sku_unique_per_catalog"),
            models.CheckConstraint(condition=~Q(sku=""), name="product_sku_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class GenerationRun(models.Model):
    """An editor's request to generate (part of) a catalog, with its options and progress."""

    class Mode(models.TextChoices):
        ALL = "all", "All products"
        MISSING = "missing", "Only missing"
        FAILED = "failed", "Only failed"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        CANCELLED = "cancelled", "Cancelled"
        FINISHED = "finished", "Finished"

    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="runs")
    mode = models.CharField(max_length=10, choices=Mode, default=Mode.MISSING)
    status = models.CharField(max_length=10, choices=Status, default=Status.RUNNING)
    provider = models.CharField(max_length=50, blank=True, help_text="Empty: the configured default.")
    model = models.CharField(max_length=200, blank=True, help_text="Empty: the provider's default.")
    prompt_template = models.TextField(blank=True, help_text="Empty: the catalog's template.")
    candidates = models.PositiveSmallIntegerField(default=1)
    queued = models.PositiveIntegerField(default=0, help_text="Products this run queued.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=["all", "missing", "failed"]), name="run_mode_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["running", "cancelled", "finished"]), name="run_status_valid"
            ),
            models.CheckConstraint(condition=Q(candidates__gte=1, candidates__lte=8), name="run_candidates_range"),
        ]
        indexes = [models.Index(fields=["catalog", "status"], name="run_catalog_status")]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.catalog}"


class CatalogImport(models.Model):
    """One uploaded catalog file on its way in: parsed once by a worker into staged rows (the
    preview reads those), then, once the editor confirms, written to the catalog by a worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to be read"
        STAGING = "staging", "Reading the file"
        STAGED = "staged", "Ready to import"
        IMPORT_QUEUED = "import_queued", "Waiting to import"
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"
        CANCELLED = "cancelled", "Cancelled"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    catalog_name = models.CharField(max_length=200)
    filename = models.CharField(max_length=200, blank=True)
    data = models.BinaryField(help_text="The uploaded bytes; emptied once imported or cancelled.")
    size = models.PositiveIntegerField(default=0)
    mapping = models.JSONField(default=dict, blank=True, help_text="sku_column, name_column, attributes_columns.")
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    # What the parse found (the preview's header): format, columns and the chosen roles.
    format = models.CharField(max_length=8, blank=True)
    columns = models.JSONField(default=list, blank=True)
    sku_column = models.CharField(max_length=1000, blank=True)
    name_column = models.CharField(max_length=1000, blank=True)
    row_count = models.PositiveIntegerField(default=0, help_text="Valid staged rows.")
    error_count = models.PositiveIntegerField(default=0)
    file_error_count = models.PositiveIntegerField(default=0)
    # Progress of the current step (reading or importing): staged entries or written rows.
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    partial = models.BooleanField(default=False)
    catalog = models.ForeignKey(Catalog, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    result = models.JSONField(default=dict, blank=True, help_text="created, updated, unchanged, skipped.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["queued", "staging", "staged", "import_queued", "importing", "imported", "cancelled"]
                ),
                name="catalog_import_status_valid",
            ),
            models.CheckConstraint(condition=Q(done__lte=F("total")), name="catalog_import_done_within_total"),
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.filename or 'a file'}"


class CatalogImportRow(models.Model):
    """One parsed entry of an import: a valid product (error empty) or a problem with its line
    (line empty for a problem with the whole file). `position` keeps the parser's order."""

    catalog_import = models.ForeignKey(CatalogImport, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField()
    line = models.PositiveIntegerField(null=True, blank=True)
    sku = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=300, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["catalog_import", "position"], name="catalog_import_row_position"),
            models.CheckConstraint(condition=~Q(sku="") | ~Q(error=""), name="catalog_import_row_valid_has_sku"),
        ]

    def __str__(self) -> str:
        return f"line {self.line}: {self.error or self.sku}"


class ApiTokenScope(models.TextChoices):
    READ = "read", "Read"


class ApiToken(models.Model):
    """An API token with a scope (read only, for now) and an expiry; only its SHA-256 is stored."""

    Scope = ApiTokenScope

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="First characters of the key, to recognise it.")
    scope = models.CharField(max_length=10, choices=ApiTokenScope, default=ApiTokenScope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="The token is refused from then on.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=ApiTokenScope.values), name="api_token_scope_valid"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="api_token_expires_after_creation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Description(models.Model):
    """One revision of a product's copy, with its sentences and tokens: the live one
    (PUBLISHED), the working draft (DRAFT_STATUSES) or an earlier one (ARCHIVED)."""

    Status = DescriptionStatus

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="descriptions")
    run = models.ForeignKey(
        GenerationRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="descriptions",
        help_text="The run that last queued it.",
    )
    status = models.CharField(max_length=20, choices=DescriptionStatus, default=DescriptionStatus.QUEUED)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic lock; bumped by every write.")
    text = models.TextField(blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=50, blank=True)
    has_logprobs = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    risk = models.FloatField(null=True, blank=True, help_text="Gate risk score, higher = riskier.")
    attempts = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A generating row whose lease ran out may be reclaimed."
    )
    rejection_reason = models.TextField(blank=True)
    rejection_category = models.ForeignKey(
        ErrorCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Why, in one word."
    )
    queued_from = models.CharField(
        max_length=20, blank=True, help_text="Status before it was queued: what cancelling its run restores."
    )
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The revision this one was copied from (revert, edit of a live copy).",
    )
    # Review claim: the reviewer who opened it holds it until review_claimed_until.
    review_claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-risk", "id"]
        permissions = [
            ("review_description", "Can review descriptions"),
            ("publish_revision", "Can publish an earlier revision directly and take over review claims"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DescriptionStatus.values), name="description_status_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="description_version_positive"),
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False),
                name="description_published_has_time",
            ),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(error=""), name="description_failed_has_error"),
            models.UniqueConstraint(
                fields=["product"], condition=Q(status="published"), name="description_one_live_per_product"
            ),
            models.UniqueConstraint(
                fields=["product"], condition=Q(status__in=DRAFT_STATUSES), name="description_one_draft_per_product"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "risk"], name="description_status_risk"),
            models.Index(fields=["status", "lease_until"], name="description_status_lease"),
            # The queue sorted by age (oldest first) pages on (created_at, id): the index gives that order.
            models.Index(fields=["status", "created_at", "id"], name="description_status_created"),
        ]

    def __str__(self) -> str:
        return f"Description of {self.product_id} ({self.status})"


class Sentence(models.Model):
    Band = SentenceBand
    Decision = SentenceDecision

    # No separate index: the (description, index) unique constraint serves these lookups.
    description = models.ForeignKey(Description, on_delete=models.CASCADE, related_name="sentences", db_index=False)
    index = models.PositiveIntegerField()
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    text = models.TextField(help_text="Text as generated, whitespace included.")
    edited_text = models.TextField(blank=True, help_text="Reviewer's text when decision=edited.")
    band = models.CharField(max_length=10, choices=SentenceBand, default=SentenceBand.REVIEW)
    decision = models.CharField(max_length=10, choices=SentenceDecision, blank=True, default=SentenceDecision.NONE)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    error_category = models.ForeignKey(
        ErrorCategory,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Why it was edited or removed; one that is not an error (style) makes it an ok label.",
    )
    # Gate signals (null when the provider returned no logprobs).
    mean_logprob = models.FloatField(null=True, blank=True)
    min_logprob = models.FloatField(null=True, blank=True)
    risk = models.FloatField(default=0.0)
    fitted_risk = models.FloatField(
        null=True,
        blank=True,
        help_text="Risk from the adopted gate model (GateModel); empty: the hand-set gate bands it.",
    )
    # What the band decision reads, as columns so a threshold change re-gates in one UPDATE.
    critical_min_logprob = models.FloatField(
        null=True, blank=True, help_text="Lowest logprob of a number, name, unit or URL in the sentence."
    )
    hard_flag = models.BooleanField(
        default=False, help_text="Flagged whatever the thresholds: attribute conflict, meta text, cut off, garbled."
    )
    has_warning = models.BooleanField(
        default=False, help_text="Never auto-published: an unsupported claim or repeated text."
    )
    signals = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    # Token position (as a string: JSON keys) -> the alternative a reviewer chose for it; the
    # edited_text is the tokens with these in place. Empty when the text was typed by hand.
    substitutions = models.JSONField(default=dict, blank=True)
    # The score columns above as the gate gave them for the generated text, kept while a
    # reviewer's edit or substitution re-gated the sentence (empty otherwise): labels and
    # calibration judge the gate on what the model wrote.
    generated_score = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["description_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["description", "index"], name="sentence_index_unique"),
            models.CheckConstraint(condition=Q(char_end__gte=F("char_start")), name="sentence_span_ordered"),
            models.CheckConstraint(condition=Q(band__in=SentenceBand.values), name="sentence_band_valid"),
            models.CheckConstraint(condition=Q(decision__in=SentenceDecision.values), name="sentence_decision_valid"),
            models.CheckConstraint(
                condition=Q(decision="") | Q(decided_at__isnull=False), name="sentence_decision_has_time"
            ),
            models.CheckConstraint(
                condition=Q(error_category__isnull=True) | Q(decision__in=CATEGORISED_DECISIONS),
                name="sentence_category_only_when_changed",
            ),
        ]
        indexes = [
            # Queue counts and band filters read the pending sentences of each description.
            models.Index(fields=["description", "band"], condition=Q(decision=""), name="sentence_pending_band"),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def current_text(self) -> str:
        return self.edited_text if self.decision == self.Decision.EDITED else self.text


class Token(models.Model):
    # Indexed by the (description, position) constraint and the (sentence, position) index:
    # single-column FK indexes would only slow down writing millions of rows.
    description = models.ForeignKey(Description, on_delete=models.CASCADE, related_name="tokens", db_index=False)
    sentence = models.ForeignKey(Sentence, on_delete=models.CASCADE, related_name="tokens", db_index=False)
    position = models.PositiveIntegerField()
    char_start = models.PositiveIntegerField(help_text="Offset of the token in Description.text.")
    text = models.CharField(max_length=255)
    bytes = models.BinaryField(max_length=255)
    logprob = models.FloatField(null=True, blank=True)
    # [[text, logprob], ...] most likely first; the chosen token may be among them.
    alternatives = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["description_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["description", "position"], name="token_position_unique"),
            models.CheckConstraint(
                condition=Q(logprob__isnull=True) | Q(logprob__lte=0), name="token_logprob_not_positive"
            ),
        ]
        indexes = [models.Index(fields=["sentence", "position"], name="token_sentence_position")]

    def __str__(self) -> str:
        return self.text


class Thresholds(models.Model):
    """Gate thresholds: one global row (catalog empty) and optional per-catalog overrides."""

    catalog = models.OneToOneField(Catalog, null=True, blank=True, on_delete=models.CASCADE, related_name="thresholds")
    publish_above = models.FloatField(default=-0.5, help_text="Mean logprob above this publishes.")
    flag_below = models.FloatField(default=-1.5, help_text="Mean logprob below this flags.")
    critical_floor = models.FloatField(
        default=-2.3, help_text="A number, name, unit or URL token below this logprob is flagged."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "thresholds"
        permissions = [("manage_thresholds", "Can change gate thresholds")]
        constraints = [
            # One global row (catalog empty): NULLs are distinct in a plain unique index.
            models.UniqueConstraint(Coalesce("catalog", Value(0)), name="thresholds_one_per_scope"),
            models.CheckConstraint(
                condition=Q(publish_above__gt=F("flag_below")), name="thresholds_publish_above_flag"
            ),
            models.CheckConstraint(
                condition=Q(publish_above__lte=0) & Q(critical_floor__lte=0),
                name="thresholds_logprobs_not_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Thresholds for {self.catalog or 'all catalogs'}"


class SentenceRegeneration(models.Model):
    """A reviewer's request for a new version of one sentence, and its progress: requested ->
    running (a worker claimed it, under a lease) -> done or failed."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    OPEN = (Status.REQUESTED, Status.RUNNING)

    description = models.ForeignKey(Description, on_delete=models.CASCADE, related_name="regenerations")
    sentence_index = models.PositiveIntegerField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.REQUESTED)
    original_text = models.TextField(help_text="The sentence as the reviewer saw it; a changed sentence is kept.")
    original_signals = models.JSONField(
        default=dict,
        blank=True,
        help_text="The gate signals of the sentence asked to be replaced: a regenerated sentence is a label.",
    )
    result_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Description.version the stored result produced (done)."
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A running request whose lease ran out may be reclaimed."
    )
    attempts = models.PositiveIntegerField(default=0)
    note = models.TextField(blank=True, help_text="Why it failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["description_id", "sentence_index", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["requested", "running", "done", "failed"]),
                name="regeneration_status_valid",
            ),
            models.UniqueConstraint(
                fields=["description", "sentence_index"],
                condition=Q(status__in=["requested", "running"]),
                name="regeneration_one_open_per_sentence",
            ),
            models.CheckConstraint(
                condition=~Q(status="running") | Q(lease_until__isnull=False), name="regeneration_running_has_lease"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["done", "failed"], finished_at__isnull=False)
                | Q(status__in=["requested", "running"], finished_at__isnull=True),
                name="regeneration_finished_has_time",
            ),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(note=""), name="regeneration_failed_has_note"),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(result_version__isnull=False), name="regeneration_done_has_version"
            ),
        ]
        indexes = [models.Index(fields=["description", "sentence_index"], name="regeneration_sentence")]

    def __str__(self) -> str:
        return f"Regeneration of sentence {self.sentence_index} of {self.description_id} ({self.status})"


class GateModel(models.Model):
    """A fitted gate risk model for one scope (a model name; optionally one catalog), versioned.

    Fitted from reviewer decisions (reviewq/gating/gate_models.py); scoring reads only
    `weights` (reviewq/gating/inference.py). An admin adopts one; the database holds at most one
    adopted per scope. Reverting re-adopts the previously adopted version, or none.
    """

    model_name = models.CharField(max_length=200, help_text="Description.model the labels come from.")
    catalog = models.ForeignKey(
        Catalog, null=True, blank=True, on_delete=models.CASCADE, related_name="gate_models", help_text="Empty: all."
    )
    version = models.PositiveIntegerField()
    weights = models.JSONField(help_text="The fitted model dict (reviewq/gating/fit.py fit_risk_model).")
    metrics = models.JSONField(default=dict, blank=True, help_text="Cross-validated figures of the fit.")
    calibration = models.JSONField(
        default=dict, blank=True, help_text="Out-of-fold risks, labels and products: cut-offs for other targets."
    )
    fell_back = models.BooleanField(
        default=False, help_text="Fitted on all catalogs' labels: the catalog had too few of its own."
    )
    target_escape = models.FloatField(help_text="At most this share of auto-published sentences wrong.")
    confidence = models.FloatField(help_text="Confidence of the bound on the escape rate.")
    publish_cutoff = models.FloatField(
        null=True, blank=True, help_text="Fitted risk at or below this publishes; empty: none qualifies."
    )
    labels_needed = models.PositiveIntegerField(
        null=True, blank=True, help_text="About how many more labels a cut-off needs (0: one qualifies)."
    )
    target_catch = models.FloatField(
        null=True,
        blank=True,
        help_text="The flag cut-off catches at least this share of errors; empty: no fitted flag.",
    )
    flag_cutoff = models.FloatField(
        null=True, blank=True, help_text="Fitted risk at or above this is flagged; empty: none qualifies."
    )
    flag_labels_needed = models.PositiveIntegerField(
        null=True, blank=True, help_text="About how many more labels a flag cut-off needs (0: one qualifies)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    adopted = models.BooleanField(default=False, help_text="The model that scores this scope now.")
    adopted_at = models.DateTimeField(null=True, blank=True, help_text="When it was last adopted.")
    adopted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaced = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The model adopted for the scope when this one was last adopted: what a revert re-adopts.",
    )

    class Meta:
        ordering = ["model_name", "catalog_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                "model_name", Coalesce("catalog", Value(0)), "version", name="gate_model_version_unique_per_scope"
            ),
            # NULL catalogs are distinct in a plain unique index: coalesce them to one scope.
            models.UniqueConstraint(
                "model_name",
                Coalesce("catalog", Value(0)),
                condition=Q(adopted=True),
                name="gate_model_one_adopted_per_scope",
            ),
            models.CheckConstraint(
                condition=~Q(adopted=True) | Q(adopted_at__isnull=False), name="gate_model_adopted_has_time"
            ),
            models.CheckConstraint(
                condition=Q(target_escape__gt=0, target_escape__lt=1, confidence__gt=0, confidence__lt=1),
                name="gate_model_target_in_range",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="gate_model_version_positive"),
        ]

    def __str__(self) -> str:
        return f"Gate model {self.model_name} v{self.version}" + (f" ({self.catalog})" if self.catalog_id else "")


class Comment(models.Model):
    """A note on a description (one revision) for the people reviewing it; shown in History."""

    description = models.ForeignKey(Description, on_delete=models.CASCADE, related_name="comments", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["description_id", "created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="comment_text_not_empty")]
        indexes = [models.Index(fields=["description", "created_at"], name="comment_description_time")]

    def __str__(self) -> str:
        return f"Comment by {self.author or 'a former user'} on {self.description_id}"


class SavedFilter(models.Model):
    """A reviewer's named queue filter: the querystring the queue's form cleaned and wrote."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_filter_name_unique_per_user"),
            models.CheckConstraint(condition=~Q(name=""), name="saved_filter_has_name"),
        ]

    def __str__(self) -> str:
        return self.name


class QASampleReason(models.TextChoices):
    AUTO = "auto", "Auto-published"
    APPROVED = "approved", "Reviewer-approved"


class QASample(models.Model):
    """A published revision drawn for a second, blind review (reviewq/core/qa.py draws at
    publish time): why (reason), the uniform draw and the catalog's rate then (draw < rate)."""

    Reason = QASampleReason

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    description = models.OneToOneField(Description, on_delete=models.CASCADE, related_name="qa_sample")
    reason = models.CharField(max_length=10, choices=QASampleReason)
    draw = models.FloatField(help_text="Uniform in [0, 1), seeded by the publish decision.")
    rate = models.FloatField(help_text="The catalog's sampling rate for the reason when it was drawn.")
    first_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who approved it (empty: the gate published it).",
    )
    qa_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The second reviewer it is assigned to.",
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    fix = models.ForeignKey(
        Description,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The draft opened because the QA review found the live copy wrong.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(reason__in=QASampleReason.values), name="qa_sample_reason_valid"),
            models.CheckConstraint(condition=Q(status__in=["open", "done"]), name="qa_sample_status_valid"),
            models.CheckConstraint(
                condition=Q(draw__gte=0, draw__lt=1, rate__gt=0, rate__lte=1) & Q(draw__lt=F("rate")),
                name="qa_sample_drawn_under_rate",
            ),
            models.CheckConstraint(
                condition=Q(status="done", completed_at__isnull=False, qa_reviewer__isnull=False)
                | Q(status="open", completed_at__isnull=True),
                name="qa_sample_done_has_reviewer_and_time",
            ),
            # The second review is by someone else.
            models.CheckConstraint(
                condition=Q(first_reviewer__isnull=True) | ~Q(qa_reviewer=F("first_reviewer")),
                name="qa_sample_second_reviewer_differs",
            ),
        ]
        indexes = [models.Index(fields=["status", "qa_reviewer"], name="qa_sample_status_reviewer")]

    def __str__(self) -> str:
        return f"QA sample of {self.description_id} ({self.reason}, {self.status})"


class QAVerdictLabel(models.TextChoices):
    OK = "ok", "OK"
    WRONG = "wrong", "Wrong"


class QAVerdict(models.Model):
    """A QA reviewer's verdict on one sentence of a sampled revision, judged as generated; an
    admin may resolve a disagreement with the first decision (the resolved label wins)."""

    Label = QAVerdictLabel

    sample = models.ForeignKey(QASample, on_delete=models.CASCADE, related_name="verdicts")
    sentence = models.ForeignKey(Sentence, on_delete=models.CASCADE, related_name="qa_verdicts")
    verdict = models.CharField(max_length=10, choices=QAVerdictLabel)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()
    resolved = models.CharField(max_length=10, choices=QAVerdictLabel, blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sample_id", "sentence_id"]
        constraints = [
            models.UniqueConstraint(fields=["sentence"], name="qa_verdict_one_per_sentence"),
            models.CheckConstraint(condition=Q(verdict__in=QAVerdictLabel.values), name="qa_verdict_valid"),
            models.CheckConstraint(
                condition=Q(resolved="", resolved_at__isnull=True)
                | Q(resolved__in=QAVerdictLabel.values, resolved_at__isnull=False),
                name="qa_verdict_resolution_valid",
            ),
        ]
        indexes = [models.Index(fields=["sample"], name="qa_verdict_sample")]

    def __str__(self) -> str:
        return f"{self.verdict} on sentence {self.sentence_id}"


class Assignment(models.Model):
    """A description in review assigned to a reviewer by an editor or admin. Work in progress,
    not history: unassigning deletes the row (the audit log keeps both events). Several
    reviewers per description are allowed (calibration rounds); a claim still goes to one at
    a time, and the first decision takes the item out of review for all of them."""

    description = models.ForeignKey(Description, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_assignments")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField()

    class Meta:
        ordering = ["description_id", "reviewer_id"]
        permissions = [("assign_reviews", "Can assign descriptions to reviewers")]
        constraints = [models.UniqueConstraint(fields=["description", "reviewer"], name="assignment_unique")]

    def __str__(self) -> str:
        return f"{self.description_id} assigned to {self.reviewer_id}"


class AuditEvent(models.Model):
    """One row per state change or edit: who, when, what, before and after."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty for the system (workers, gate).",
    )
    action = models.CharField(max_length=50)
    # SET_NULL: the audit trail outlives what it describes (deleting one records who did it).
    description = models.ForeignKey(
        Description, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    sentence_index = models.PositiveIntegerField(null=True, blank=True)
    catalog = models.ForeignKey(Catalog, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["description", "created_at"], name="audit_description_time")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor or 'system'}"
