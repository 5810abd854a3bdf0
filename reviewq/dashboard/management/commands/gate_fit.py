"""Fit the gate's risk model from reviewer decisions, per model name (reviewq/gating/gate_models.py),
print its cross-validated figures, and with --adopt make it score its scope."""

from django.core.management.base import BaseCommand, CommandError

from reviewq.core.models import Catalog, GateModel
from reviewq.gating.gate_models import GateModelError, gate_model_adopt, gate_model_fit
from reviewq.gating.labels import labelled_model_names
from reviewq.gating.truth import TRUTH_NOTE


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise ValueError
    return number


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def gate_model_report(gate_model: GateModel) -> str:
    """The figures of a fit as the command prints them."""
    m = gate_model.metrics
    catalog = gate_model.catalog
    scope = gate_model.model_name + (f" in catalog {catalog.name}" if catalog is not None else "")
    lines = [
        f"{scope}: version {gate_model.version}"
        + (" (fitted on all catalogs' labels: too few in this catalog)" if gate_model.fell_back else ""),
        f"  labels {m['n_labels']} ({m['n_errors']} errors) from {m['n_products']} products, "
        f"{m['cv_folds']} folds grouped by product; " + ", ".join(f"{kind} {n}" for kind, n in m["kinds"].items() if n),
        f"  {'score':<14}{'ROC-AUC':>9}{'PR-AUC':>9}",
    ]
    for key, label in (("fitted", "fitted risk"), ("gate", "current gate"), ("mean_logprob", "mean logprob")):
        lines.append(f"  {label:<14}{_num(m['roc_auc'][key]):>9}{_num(m['pr_auc'][key]):>9}")
    target = f"at most {100 * gate_model.target_escape:g}% wrong at {100 * gate_model.confidence:g}% confidence"
    if gate_model.publish_cutoff is None:
        more = (
            f"about {gate_model.labels_needed} more reviews needed"
            if gate_model.labels_needed
            else "more labels like these would not qualify"
        )
        lines.append(f"  {target}: publishes nothing; {more}")
    else:
        lines.append(
            f"  {target}: fitted risk <= {gate_model.publish_cutoff:.4f} publishes {_pct(m['publish_share'])} "
            f"of labelled sentences (out of fold), escape bound {_pct(m['upper_bound'])}"
        )
    if gate_model.target_catch is not None:
        catch = f"flag catching at least {100 * gate_model.target_catch:g}% of errors"
        if gate_model.flag_cutoff is None:
            more = f"about {gate_model.flag_labels_needed} more reviews needed" if gate_model.flag_labels_needed else ""
            lines.append(f"  {catch}: flags nothing by the fitted risk" + (f"; {more}" if more else ""))
        else:
            lines.append(
                f"  {catch}: fitted risk >= {gate_model.flag_cutoff:.4f} flags {m['flagged']} labelled sentences "
                f"(out of fold), catch-rate bound {_pct(m['flag_lower_bound'])}"
            )
    weights = sorted(
        zip(gate_model.weights["features"], gate_model.weights["coef"], strict=True), key=lambda fc: -abs(fc[1])
    )
    lines.append("  largest weights: " + ", ".join(f"{f} {c:+.2f}" for f, c in weights[:6]))
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Fit the gate's risk model from reviewer decisions (approved = ok; edited, substituted, removed, "
        "regenerated = error), per model name, cross-validated by product; print the figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="Description.model to fit (default: every model with labels)")
        parser.add_argument("--catalog", help="catalog name: fit its own model (all catalogs below 200 labels)")
        parser.add_argument("--target-escape", type=_fraction, default=0.02, help="default 0.02")
        parser.add_argument("--target-catch", type=_fraction, default=0.5, help="the flag's catch rate, default 0.5")
        parser.add_argument("--confidence", type=_fraction, default=0.95, help="default 0.95")
        parser.add_argument("--adopt", action="store_true", help="adopt each fitted model")

    def handle(self, *args, **options):
        catalog = None
        if options["catalog"]:
            catalog = Catalog.objects.filter(name=options["catalog"]).first()
            if catalog is None:
                raise CommandError(f"no catalog named {options['catalog']!r}")
        names = [options["model"]] if options["model"] else labelled_model_names()
        if not names:
            raise CommandError("no reviewed sentences yet: nothing to fit")
        failed = []
        for name in names:
            try:
                gate_model = gate_model_fit(
                    model_name=name,
                    catalog=catalog,
                    target_escape=options["target_escape"],
                    target_catch=options["target_catch"],
                    confidence=options["confidence"],
                    actor=None,
                )
            except GateModelError as exc:
                self.stderr.write(f"{name}: {exc}")
                failed.append(name)
                continue
            self.stdout.write(gate_model_report(gate_model))
            if options["adopt"]:
                gate_model_adopt(gate_model=gate_model, actor=None)
                self.stdout.write(f"  adopted version {gate_model.version}")
        self.stdout.write(TRUTH_NOTE)
        if failed:
            raise CommandError(f"not fitted: {', '.join(failed)}")
