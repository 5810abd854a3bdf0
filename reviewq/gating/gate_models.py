"""Fitted gate models: fit one from reviewer labels, adopt it, revert it (all audited).

A scope is a model name, optionally narrowed to one catalog. The fit is reviewq/gating/fit.py's
cross-validated fitting (GroupKFold by product) on the labels of reviewq/gating/labels.py; a
catalog with fewer than MIN_LABELS labels of its own is fitted on the labels of all catalogs
(`fell_back`). The publish cut-off (at a target escape rate) and the flag cut-off (at a target
catch rate) come from the out-of-fold risks of all labels (reviewq/gating/cutoffs.py), the
weights from one fit on all of them.

Adopting or reverting re-scores the scope's undecided sentences in SQL (`sentences_rescore`):
Sentence.fitted_risk from the weights, the band from inference.fitted_band's rule (hand-set
flags stay; the fitted risk flags at or above the flag cut-off and decides publish vs review),
Description.risk (the queue's sort key) from the sentences' fitted risks, then descriptions
follow. `realised_escape` checks an adopted model against the reviews that came in after it.
"""

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, Count, F, FloatField, Max, Q, QuerySet, Value, When
from django.db.models.expressions import Combinable, CombinedExpression
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Exp, Greatest, Least, Ln
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, IsNull, LessThanOrEqual
from django.utils import timezone

from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import (
    Catalog,
    Description,
    DescriptionStatus,
    GateModel,
    Sentence,
    SentenceBand,
    SentenceRegeneration,
)
from reviewq.gating.cutoffs import (
    FlagCutoff,
    PublishCutoff,
    clopper_pearson_lower,
    clopper_pearson_upper,
    flag_cutoff,
    publish_cutoff,
)
from reviewq.gating.features import VERIFIER_ABSENT_DOUBT
from reviewq.gating.fit import DEFAULT_PARAMS, cross_validate, design_matrix, fit_risk_model, ranking_metrics
from reviewq.gating.gate import GateThresholds, risk_from_signals
from reviewq.gating.inference import check_model
from reviewq.gating.labels import ERROR_LABEL, LABEL_KINDS, SentenceLabel, sentence_labels_list
from reviewq.gating.service import (
    adopted_gate_model,
    band_expression,
    description_risk_expression,
    descriptions_follow_sentences,
    thresholds_for_catalog,
)
from reviewq.gating.verifier import SIGNAL_KEY as VERIFIER_KEY

MIN_LABELS = 200
CV_FOLDS = 4
RELIABILITY_BINS = 10


class GateModelError(ValueError):
    """A fit, adoption or revert that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class GateScope:
    model_name: str
    catalog: Catalog | None = None

    @property
    def catalog_id(self) -> int | None:
        return self.catalog.pk if self.catalog is not None else None

    def models(self) -> QuerySet[GateModel]:
        return GateModel.objects.filter(model_name=self.model_name, catalog=self.catalog)


def reliability_bins(risk: Sequence[float], error: Sequence[bool], bins: int = RELIABILITY_BINS) -> list[dict]:
    """Equal-width risk bins: sentences, mean predicted risk and observed error share per bin."""
    risk_a, error_a = np.asarray(risk, dtype=float), np.asarray(error, dtype=bool)
    index = np.minimum((risk_a * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        if n:
            rows.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "sentences": n,
                    "predicted": float(risk_a[inside].mean()),
                    "observed": float(error_a[inside].mean()),
                }
            )
    return rows


def _baseline_risk(label: SentenceLabel) -> tuple[float, float]:
    """The hand-set gate's risk and -mean logprob (no logprobs: riskiest), from stored signals."""
    mean = label.signals.get("mean_logprob")
    return risk_from_signals(label.signals), (math.inf if mean is None else -float(mean))


def calibration_cutoff(calibration: dict, *, target_escape: float, confidence: float) -> PublishCutoff:
    """The publish cut-off a stored fit's out-of-fold risks give at another target."""
    return publish_cutoff(
        calibration.get("risk", []),
        calibration.get("error", []),
        target=target_escape,
        confidence=confidence,
        groups=calibration.get("group") or None,
    )


def calibration_flag_cutoff(calibration: dict, *, target_catch: float, confidence: float) -> FlagCutoff:
    """The flag cut-off a stored fit's out-of-fold risks give at a target catch rate."""
    return flag_cutoff(
        calibration.get("risk", []), calibration.get("error", []), target=target_catch, confidence=confidence
    )


@transaction.atomic
def gate_model_fit(
    *,
    model_name: str,
    catalog: Catalog | None = None,
    target_escape: float,
    confidence: float,
    actor: AbstractBaseUser | None,
    target_catch: float | None = None,
    min_labels: int = MIN_LABELS,
) -> GateModel:
    """Fit a new version for the scope from its labels (the wider scope below `min_labels`),
    cross-validated by product; not adopted. Raises GateModelError with too few products.
    With `target_catch`, also the flag cut-off certified to catch that share of errors."""
    if not (0 < target_escape < 1 and 0 < confidence < 1) or not (target_catch is None or 0 < target_catch < 1):
        raise GateModelError("The targets and the confidence must be between 0 and 100%.")
    labels = sentence_labels_list(model_name=model_name, catalog_id=catalog.pk if catalog else None)
    fell_back = False
    if catalog is not None and len(labels) < min_labels:
        labels, fell_back = sentence_labels_list(model_name=model_name), True
    products = len({label.group for label in labels})
    if products < 2:
        raise GateModelError(
            f"{len(labels)} label(s) from {products} product(s) for {model_name!r}: "
            "cross-validation by product needs reviewed sentences of two products or more."
        )
    params = DEFAULT_PARAMS
    X = design_matrix([label.signals for label in labels], params.features)
    y = np.array([label.error for label in labels], dtype=bool)
    groups = [label.group for label in labels]
    cv = cross_validate(
        X, y.tolist(), groups, k=CV_FOLDS, target_escape=target_escape, confidence=confidence, params=params
    )
    gate, mean_logprob = zip(*(_baseline_risk(label) for label in labels), strict=True)
    ranking = ranking_metrics(
        y.tolist(), {"fitted": cv.risk.tolist(), "gate": list(gate), "mean_logprob": list(mean_logprob)}
    )
    oof = [round(float(r), 6) for r in cv.risk]
    cut = publish_cutoff(oof, y.tolist(), target=target_escape, confidence=confidence, groups=groups)
    flag = None if target_catch is None else flag_cutoff(oof, y.tolist(), target=target_catch, confidence=confidence)
    weights = fit_risk_model(X, y.tolist(), params)
    metrics = {
        **ranking,
        "n_labels": len(labels),
        "n_errors": int(y.sum()),
        "n_products": products,
        "cv_folds": min(CV_FOLDS, products),
        "kinds": {kind: sum(1 for label in labels if label.kind == kind) for kind in LABEL_KINDS},
        "reliability": reliability_bins(cv.risk.tolist(), y.tolist()),
        "published": cut.published,
        "published_errors": cut.errors,
        "publish_share": cut.published / len(labels),
        "upper_bound": cut.upper_bound,
        **(
            {}
            if flag is None
            else {"flagged": flag.flagged, "flag_caught": flag.caught, "flag_lower_bound": flag.lower_bound}
        ),
        "folds": cv.folds,
    }
    version = (
        GateModel.objects.filter(model_name=model_name, catalog=catalog).aggregate(v=Max("version"))["v"] or 0
    ) + 1
    gate_model = GateModel.objects.create(
        model_name=model_name,
        catalog=catalog,
        version=version,
        weights=weights,
        metrics=metrics,
        calibration={"risk": oof, "error": y.astype(int).tolist(), "group": groups},
        fell_back=fell_back,
        target_escape=target_escape,
        confidence=confidence,
        publish_cutoff=cut.cutoff,
        labels_needed=cut.labels_needed,
        target_catch=target_catch,
        flag_cutoff=None if flag is None else flag.cutoff,
        flag_labels_needed=None if flag is None else flag.labels_needed,
        created_by=audit_actor(actor),
    )
    audit_record(
        action=AuditAction.GATE_MODEL_FITTED,
        actor=actor,
        catalog=catalog,
        after=_audit_summary(gate_model),
        note="fitted on all catalogs' labels: too few in this catalog" if fell_back else "",
    )
    return gate_model


def _audit_summary(gate_model: GateModel | None) -> dict:
    if gate_model is None:
        return {"gate_model": None}
    return {
        "gate_model": gate_model.pk,
        "model_name": gate_model.model_name,
        "version": gate_model.version,
        "roc_auc": gate_model.metrics.get("roc_auc", {}).get("fitted"),
        "n_labels": gate_model.metrics.get("n_labels"),
        "target_escape": gate_model.target_escape,
        "confidence": gate_model.confidence,
        "publish_cutoff": gate_model.publish_cutoff,
        "labels_needed": gate_model.labels_needed,
        "target_catch": gate_model.target_catch,
        "flag_cutoff": gate_model.flag_cutoff,
        "flag_labels_needed": gate_model.flag_labels_needed,
    }


@transaction.atomic
def gate_model_adopt(*, gate_model: GateModel, actor: AbstractBaseUser | None) -> GateModel:
    """Make `gate_model` the one adopted for its scope (the previous one stops scoring)."""
    scope = GateScope(model_name=gate_model.model_name, catalog=gate_model.catalog)
    current = scope.models().select_for_update().filter(adopted=True).first()
    if current is not None and current.pk == gate_model.pk:
        raise GateModelError(f"Version {gate_model.version} is adopted already.")
    if current is not None:
        scope.models().filter(pk=current.pk).update(adopted=False)
    now = timezone.now()
    scope.models().filter(pk=gate_model.pk).update(
        adopted=True, adopted_at=now, adopted_by=audit_actor(actor), replaced=current
    )
    gate_model.refresh_from_db()
    rescored = sentences_rescore(scope=scope, actor=actor)
    audit_record(
        action=AuditAction.GATE_MODEL_ADOPTED,
        actor=actor,
        catalog=gate_model.catalog,
        before=_audit_summary(current),
        after={**_audit_summary(gate_model), **dataclasses.asdict(rescored)},
    )
    return gate_model


@transaction.atomic
def gate_model_revert(*, scope: GateScope, actor: AbstractBaseUser | None) -> GateModel | None:
    """Stop the adopted model of a scope and re-adopt the one it replaced, or none: the
    hand-set gate again."""
    current = scope.models().select_for_update().filter(adopted=True).first()
    if current is None:
        raise GateModelError(f"No gate model is adopted for {scope.model_name!r}.")
    previous = scope.models().filter(version__lt=current.version, adopted_at__isnull=False).order_by("-version").first()
    scope.models().filter(pk=current.pk).update(adopted=False)
    if previous is not None:
        scope.models().filter(pk=previous.pk).update(
            adopted=True, adopted_at=timezone.now(), adopted_by=audit_actor(actor)
        )
        previous.refresh_from_db()
    rescored = sentences_rescore(scope=scope, actor=actor)
    audit_record(
        action=AuditAction.GATE_MODEL_REVERTED,
        actor=actor,
        catalog=scope.catalog,
        before=_audit_summary(current),
        after={**_audit_summary(previous), **dataclasses.asdict(rescored)},
    )
    return previous


# --- Scoring stored sentences with an adopted model, set-based ----------------------------------
#
# features.EXTRACTORS as SQL over Sentence.signals (kept equal to inference.fitted_risk by a
# test): ("num", key, cap) a number capped, 0 when absent; ("neg", key, cap) the same negated;
# ("flag", key) 1 when true; ("log1p", key); ("no_logprobs",); ("doubt", key, absent) 1 - the
# number clamped to 0..1, `absent` when missing; ("absent", key) 1 when missing;
# ("one_minus", key) 1 - the number, 1 when absent; ("num_or", key, cap, fallback) the number capped, the fallback key's when
# absent; ("none", key) 1 unless the number is above 0.
SQL_FEATURES: dict[str, tuple] = {
    "neg_mean_logprob": ("neg", "mean_logprob", 10.0),
    "neg_min_logprob": ("neg", "min_logprob", 20.0),
    "share_below_floor": ("num", "share_below_floor", None),
    "mean_entropy": ("num", "mean_entropy", 5.0),
    "max_entropy": ("num", "max_entropy", 5.0),
    "min_margin": ("num", "min_margin", None),
    "mean_margin": ("num", "mean_margin", None),
    "neg_critical_min_logprob": ("neg", "critical_min_logprob", 10.0),
    "critical_max_entropy": ("num", "critical_max_entropy", 5.0),
    "n_critical": ("num", "n_critical", 5.0),
    "n_critical_ungrounded": ("num", "n_critical_ungrounded", 5.0),
    "n_grounded": ("num", "n_grounded", 5.0),
    "n_conflicts": ("num", "n_conflicts", 2.0),
    "n_unsupported": ("num", "n_unsupported", 2.0),
    "has_meta": ("flag", "has_meta"),
    "has_prompt_echo": ("flag", "has_prompt_echo"),
    "has_cutoff": ("flag", "has_cutoff"),
    "has_garbled": ("flag", "has_garbled"),
    "has_repeat": ("flag", "has_repeat"),
    "not_prose": ("flag", "not_prose"),
    "hard_flag": ("flag", "hard_flag"),
    "log_n_tokens": ("log1p", "n_tokens"),
    "no_logprobs": ("no_logprobs",),
    "n_untraced": ("num", "n_untraced", 3.0),
    "n_swapped": ("num", "n_swapped", 2.0),
    "novel_share": ("num", "novel_share", None),
    "verifier_doubt": ("doubt", VERIFIER_KEY, VERIFIER_ABSENT_DOUBT),
    "no_verifier": ("absent", VERIFIER_KEY),
    "sample_disagreement": ("one_minus", "sample_support"),
    "values_alone": ("num_or", "n_values_alone", 2.0, "n_values"),
    "no_samples": ("none", "n_samples"),
}
_F = FloatField()


def _number(key: str, field: str = "signals") -> Cast:
    return Cast(KT(f"{field}__{key}"), _F)


def _flag(key: str, field: str = "signals") -> Case:
    """1.0 when the JSON key is true, else 0.0 (also when absent: no NULL to negate)."""
    return Case(When(Q(**{f"{field}__{key}": True}), then=Value(1.0)), default=Value(0.0), output_field=_F)


def _absent(key: str, field: str = "signals") -> Q:
    """The JSON key is missing or null (SQLite's ->> gives the text 'null', which casts to 0)."""
    return Q(**{f"{field}__{key}__isnull": True}) | Q(**{f"{field}__{key}": None})


def _feature_sql(name: str, field: str = "signals") -> Case | Ln:
    kind, *rest = SQL_FEATURES[name]
    if kind == "flag":
        return _flag(rest[0], field)
    if kind == "no_logprobs":
        return Case(
            When(_absent("mean_logprob", field), then=Value(1.0)),
            When(Q(**{f"{field}__has_logprobs": True}), then=Value(0.0)),
            default=Value(1.0),
            output_field=_F,
        )
    key = rest[0]
    value: Combinable = _number(key, field)
    missing = _absent(key, field)  # a JSON null too: SQLite would cast it to 0.0, "supported"
    if kind == "absent":
        return Case(When(missing, then=Value(1.0)), default=Value(0.0), output_field=_F)
    if kind == "doubt":
        doubt = Least(Greatest(Value(1.0) - value, Value(0.0)), Value(1.0))
        return Case(When(missing, then=Value(float(rest[1]))), default=doubt, output_field=_F)
    if kind == "one_minus":
        return Case(
            When(_absent(key, field), then=Value(1.0)),
            default=CombinedExpression(Value(1.0), "-", value, output_field=_F),
            output_field=_F,
        )
    if kind == "none":
        return Case(When(GreaterThan(value, Value(0.0)), then=Value(0.0)), default=Value(1.0), output_field=_F)
    if kind == "num_or":
        cap, fallback = rest[1], rest[2]
        return Case(
            When(~_absent(key, field), then=Least(value, Value(cap))),
            When(_absent(fallback, field), then=Value(0.0)),
            default=Least(_number(fallback, field), Value(cap)),
            output_field=_F,
        )
    if kind == "log1p":
        return Ln(Value(1.0) + Case(When(IsNull(value, True), then=Value(0.0)), default=value, output_field=_F))
    if kind == "neg":
        value = CombinedExpression(Value(0.0), "-", value, output_field=_F)
    cap = rest[1]
    if cap is not None:
        value = Least(value, Value(cap))
    # LEAST ignores NULLs on PostgreSQL: test the key itself.
    return Case(When(IsNull(_number(key, field), True), then=Value(0.0)), default=value, output_field=_F)


def fitted_risk_expression(weights: dict, *, field: str = "signals") -> CombinedExpression:
    """inference.fitted_risk as SQL over a signals JSON (Sentence.signals unless `field` names
    another path, e.g. generated_score__signals; z clamped to +-50 for EXP)."""
    check_model(weights)
    z: Combinable = Value(float(weights["intercept"]), output_field=_F)
    for name, mean, scale, coef in zip(
        weights["features"], weights["mean"], weights["scale"], weights["coef"], strict=True
    ):
        if coef:
            term = CombinedExpression(_feature_sql(name, field), "-", Value(float(mean)), output_field=_F)
            z = z + Value(float(coef) / float(scale), output_field=_F) * term
    z = Greatest(Least(z, Value(50.0)), Value(-50.0))
    return Value(1.0, output_field=_F) / (Value(1.0, output_field=_F) + Exp(-z))


def fitted_band_expression(
    *, risk: Combinable, cutoff: float | None, thresholds: GateThresholds, flag_cutoff: float | None = None
) -> Case:
    """inference.fitted_band as SQL: the hand-set flags stay, the fitted risk flags at or above
    `flag_cutoff` and decides publish."""
    B = SentenceBand
    fitted_flag = []
    if flag_cutoff is not None:
        fitted_flag = [When(GreaterThanOrEqual(risk, Value(float(flag_cutoff))), then=Value(B.FLAG))]
    publish = []
    if cutoff is not None:
        publish = [
            When(has_warning=True, then=Value(B.REVIEW)),
            When(LessThanOrEqual(risk, Value(float(cutoff))), then=Value(B.PUBLISH)),
        ]
    return Case(
        When(hard_flag=True, then=Value(B.FLAG)),
        *fitted_flag,
        When(mean_logprob__isnull=True, then=Value(B.REVIEW)),
        When(mean_logprob__lt=thresholds.flag_below, then=Value(B.FLAG)),
        When(critical_min_logprob__lt=thresholds.critical_floor, then=Value(B.FLAG)),
        *publish,
        default=Value(B.REVIEW),
    )


@dataclass(frozen=True)
class RescoreResult:
    sentences: int
    published: int
    back_to_review: int


def _rescore_catalog_ids(scope: GateScope) -> list[int]:
    """Catalogs whose sentences of scope.model_name the scope's adopted model governs."""
    if scope.catalog is not None:
        return [scope.catalog.pk]
    own = GateModel.objects.filter(model_name=scope.model_name, adopted=True, catalog__isnull=False)
    return list(Catalog.objects.exclude(pk__in=own.values("catalog_id")).values_list("id", flat=True))


def sentences_rescore(*, scope: GateScope, actor: AbstractBaseUser | None = None) -> RescoreResult:
    """Re-score the undecided sentences of a scope with the model adopted for it (or, none
    adopted, hand back to the thresholds) and move descriptions to match: one UPDATE per
    catalog, then the two set-based description transitions."""
    S = DescriptionStatus
    catalog_ids = _rescore_catalog_ids(scope)
    changed = 0
    for catalog_id in catalog_ids:
        adopted = adopted_gate_model(model_name=scope.model_name, catalog_id=catalog_id)
        thresholds = thresholds_for_catalog(catalog_id=catalog_id)
        descriptions = Description.objects.filter(
            product__catalog_id=catalog_id, model=scope.model_name, status__in=[S.REVIEW, S.PUBLISHED]
        )
        sentences = Sentence.objects.filter(
            decision=Sentence.Decision.NONE, description_id__in=descriptions.values("id")
        )
        if adopted is None:
            changed += sentences.update(fitted_risk=None, band=band_expression(thresholds))
        else:
            # The risk once (26 JSON reads a row), then the band from the stored column.
            changed += sentences.update(fitted_risk=fitted_risk_expression(adopted.weights))
            band = fitted_band_expression(
                risk=F("fitted_risk"),
                cutoff=adopted.publish_cutoff,
                flag_cutoff=adopted.flag_cutoff,
                thresholds=thresholds,
            )
            sentences.exclude(band=band).update(band=band)
        # The queue's sort key follows the sentences' (fitted or hand-set) risks.
        descriptions.update(risk=description_risk_expression(fitted=adopted is not None))
    published, back = descriptions_follow_sentences(catalog_ids=catalog_ids, actor=actor, note="gate model changed")
    return RescoreResult(sentences=changed, published=published, back_to_review=back)


# --- Is the adopted model still right? The realised escape rate ---------------------------------


@dataclass(frozen=True, slots=True)
class RealisedEscape:
    """Reviewed sentences an adopted model publishes (or would have), decided after it was
    adopted, and how many of them a reviewer found wrong."""

    sentences: int
    errors: int
    target: float
    confidence: float
    lower: float  # one-sided Clopper-Pearson bounds on their error rate at `confidence`
    upper: float

    @property
    def rate(self) -> float | None:
        return self.errors / self.sentences if self.sentences else None

    @property
    def exceeds_target(self) -> bool:
        """The escape rate is above the target at the stated confidence: the model no longer
        backs its claim."""
        return self.lower > self.target


def _no_mean_logprob(field: str) -> Case:
    """1.0 when the mean logprob is JSON null or absent (KT reads a JSON null as 'null' on SQLite)."""
    absent = Q(**{f"{field}__mean_logprob": None}) | Q(**{f"{field}__mean_logprob__isnull": True})
    return Case(When(absent, then=Value(1.0)), default=Value(0.0), output_field=_F)


def _published_by(gate_model: GateModel, field: str) -> Q:
    """Signals in `field` the model would publish: fitted risk at or below its publish cut-off and
    below its flag cut-off (fitted_band flags first), no hard flag, no warning, logprobs present
    (inference.fitted_band; the hand-set thresholds' flags are left out)."""
    risk = fitted_risk_expression(gate_model.weights, field=field)
    published = (
        Q(**{f"{field}__has_logprobs": True})
        & Q(Exact(_flag("hard_flag", field) + _flag("has_warning", field) + _no_mean_logprob(field), Value(0.0)))
        & Q(LessThanOrEqual(risk, Value(gate_model.publish_cutoff)))
    )
    if gate_model.flag_cutoff is not None:
        published &= ~Q(GreaterThanOrEqual(risk, Value(float(gate_model.flag_cutoff))))
    return published


def realised_escape(gate_model: GateModel) -> RealisedEscape | None:
    """The adopted model's realised escape rate: among the sentences of its scope that it
    publishes by its fitted risk (scored on the text as generated) and that a reviewer decided
    after it was adopted, the share found wrong (edited, substituted, removed, regenerated, but
    not for style only: labels.ERROR_LABEL). Three aggregate queries. None when not adopted or it publishes
    nothing."""
    if not gate_model.adopted or gate_model.adopted_at is None or gate_model.publish_cutoff is None:
        return None
    scope = GateScope(model_name=gate_model.model_name, catalog=gate_model.catalog)
    in_scope = Q(
        description__model=gate_model.model_name, description__product__catalog_id__in=_rescore_catalog_ids(scope)
    )
    decided = Sentence.objects.filter(in_scope, decided_at__gt=gate_model.adopted_at).exclude(
        decision=Sentence.Decision.NONE
    )
    sentences = errors = 0
    for part in (
        decided.filter(generated_score__isnull=True).filter(_published_by(gate_model, "signals")),
        decided.filter(generated_score__isnull=False).filter(_published_by(gate_model, "generated_score__signals")),
    ):
        counts = part.aggregate(n=Count("id"), k=Count("id", filter=ERROR_LABEL))
        sentences, errors = sentences + counts["n"], errors + counts["k"]
    regenerated = (
        SentenceRegeneration.objects.filter(
            in_scope, status=SentenceRegeneration.Status.DONE, created_at__gt=gate_model.adopted_at
        )
        .exclude(original_signals={})
        .filter(_published_by(gate_model, "original_signals"))
        .count()
    )
    sentences, errors = sentences + regenerated, errors + regenerated
    confidence = gate_model.confidence
    return RealisedEscape(
        sentences=sentences,
        errors=errors,
        target=gate_model.target_escape,
        confidence=confidence,
        lower=clopper_pearson_lower(errors, sentences, confidence),
        upper=clopper_pearson_upper(errors, sentences, confidence),
    )
