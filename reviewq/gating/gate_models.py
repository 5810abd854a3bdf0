"""Fitted gate models: fit one from reviewer labels, adopt it, revert it (all audited).

A scope is a model name, optionally narrowed to one catalog. The fit is reviewq/gating/fit.py's
cross-validated fitting (GroupKFold by product) on the labels of reviewq/gating/labels.py; a
catalog with fewer than MIN_LABELS labels of its own is fitted on the labels of all catalogs
(`fell_back`). The publish cut-off comes from the out-of-fold risks of all labels at the
stated target (reviewq/gating/cutoffs.py), the weights from one fit on all of them.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import Catalog, GateModel
from reviewq.gating.cutoffs import PublishCutoff, publish_cutoff
from reviewq.gating.fit import DEFAULT_PARAMS, cross_validate, design_matrix, fit_risk_model, ranking_metrics
from reviewq.gating.gate import risk_from_signals
from reviewq.gating.labels import LABEL_KINDS, SentenceLabel, sentence_labels_list

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

    def models(self):
        return GateModel.objects.filter(model_name=self.model_name, catalog_id=self.catalog_id)


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


@transaction.atomic
def gate_model_fit(
    *,
    model_name: str,
    catalog: Catalog | None = None,
    target_escape: float,
    confidence: float,
    actor: AbstractBaseUser | None,
    min_labels: int = MIN_LABELS,
) -> GateModel:
    """Fit a new version for the scope from its labels (the wider scope below `min_labels`),
    cross-validated by product; not adopted. Raises GateModelError with too few products."""
    if not (0 < target_escape < 1 and 0 < confidence < 1):
        raise GateModelError("The target and the confidence must be between 0 and 100%.")
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
    cv = cross_validate(X, y, groups, k=CV_FOLDS, target_escape=target_escape, confidence=confidence, params=params)
    gate, mean_logprob = zip(*(_baseline_risk(label) for label in labels), strict=True)
    ranking = ranking_metrics(y, {"fitted": cv.risk.tolist(), "gate": list(gate), "mean_logprob": list(mean_logprob)})
    oof = [round(float(r), 6) for r in cv.risk]
    cut = publish_cutoff(oof, y.tolist(), target=target_escape, confidence=confidence, groups=groups)
    weights = fit_risk_model(X, y, params)
    metrics = {
        **ranking,
        "n_labels": len(labels),
        "n_errors": int(y.sum()),
        "n_products": products,
        "cv_folds": min(CV_FOLDS, products),
        "kinds": {kind: sum(1 for label in labels if label.kind == kind) for kind in LABEL_KINDS},
        "reliability": reliability_bins(cv.risk, y),
        "published": cut.published,
        "published_errors": cut.errors,
        "publish_share": cut.published / len(labels),
        "upper_bound": cut.upper_bound,
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
    }


def adopted_gate_model(*, model_name: str, catalog_id: int | None = None) -> GateModel | None:
    """The model scoring a scope now: the catalog's own, else the one for all catalogs."""
    if catalog_id is not None:
        own = GateModel.objects.filter(model_name=model_name, adopted=True, catalog_id=catalog_id).first()
        if own is not None:
            return own
    return GateModel.objects.filter(model_name=model_name, adopted=True, catalog__isnull=True).first()


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
    audit_record(
        action=AuditAction.GATE_MODEL_ADOPTED,
        actor=actor,
        catalog=gate_model.catalog,
        before=_audit_summary(current),
        after=_audit_summary(gate_model),
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
    audit_record(
        action=AuditAction.GATE_MODEL_REVERTED,
        actor=actor,
        catalog=scope.catalog,
        before=_audit_summary(current),
        after=_audit_summary(previous),
    )
    return previous
