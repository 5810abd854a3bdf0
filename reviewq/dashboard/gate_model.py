"""What the "Gate model" page shows per model name: the adopted and the latest fitted model,
their cross-validated figures, the reliability diagram, what a stated target would publish and
flag (re-read from the latest fit's out-of-fold risks, no refit), and the adopted model's
realised escape rate on the reviews since its adoption."""

from dataclasses import dataclass

from django.utils.safestring import SafeString

from reviewq.core.models import Catalog, GateModel
from reviewq.dashboard.charts import line_chart_svg
from reviewq.gating.cutoffs import FlagCutoff, PublishCutoff
from reviewq.gating.gate_models import (
    MIN_LABELS,
    RealisedEscape,
    calibration_cutoff,
    calibration_flag_cutoff,
    realised_escape,
)
from reviewq.gating.labels import labelled_model_names


@dataclass(frozen=True)
class GateModelRow:
    model_name: str
    adopted: GateModel | None
    latest: GateModel | None
    target: PublishCutoff | None  # the latest fit's cut-off at the page's target
    flag: FlagCutoff | None  # the latest fit's flag cut-off at the page's catch target
    realised: RealisedEscape | None  # the adopted model's escape rate on reviews since its adoption
    reliability: SafeString | None
    weights: list[tuple[str, float]]  # (feature, standardised coefficient), largest first

    @property
    def publish_share(self) -> float | None:
        if self.target is None or not self.target.sentences:
            return None
        return self.target.published / self.target.sentences


def reliability_chart(gate_model: GateModel) -> SafeString:
    return line_chart_svg(
        title=f"Reliability of {gate_model.model_name} v{gate_model.version}: predicted risk against the observed error share",
        x_label="fitted risk, out of fold (bin mean)",
        y_label="observed share of errors",
        points=[(b["predicted"], b["observed"]) for b in gate_model.metrics.get("reliability", [])],
        x_range=(0.0, 1.0),
        diagonal=True,
        x_ticks=(0.0, 0.25, 0.5, 0.75, 1.0),
        percent_x=True,
    )


def gate_model_rows(
    *, catalog: Catalog | None, target_escape: float, confidence: float, target_catch: float = 0.5
) -> list[GateModelRow]:
    """One row per model name with labels or fitted models, in the catalog's scope (None: all)."""
    models = list(
        GateModel.objects.filter(catalog=catalog).select_related("adopted_by", "created_by").order_by("-version")
    )
    names = sorted(set(labelled_model_names()) | {m.model_name for m in models})
    rows = []
    for name in names:
        own = [m for m in models if m.model_name == name]
        latest = own[0] if own else None
        adopted = next((m for m in own if m.adopted), None)
        weights = []
        if latest is not None:
            weights = sorted(
                zip(latest.weights["features"], latest.weights["coef"], strict=True), key=lambda fc: -abs(fc[1])
            )
        rows.append(
            GateModelRow(
                model_name=name,
                adopted=adopted,
                latest=latest,
                target=calibration_cutoff(latest.calibration, target_escape=target_escape, confidence=confidence)
                if latest is not None
                else None,
                flag=calibration_flag_cutoff(latest.calibration, target_catch=target_catch, confidence=confidence)
                if latest is not None
                else None,
                realised=realised_escape(adopted) if adopted is not None else None,
                reliability=reliability_chart(latest) if latest is not None else None,
                weights=weights,
            )
        )
    return rows


__all__ = ["MIN_LABELS", "GateModelRow", "gate_model_rows"]
