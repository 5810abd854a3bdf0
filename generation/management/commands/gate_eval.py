"""Measure the gate on labelled JSONL files (see generation/evaluation.py). Writes nothing.

Without --cv: the hand-set gate at the thresholds. With --cv K: the fitted risk model
(reviewq/gating/fit.py), per model, by K product-grouped folds, and what a cut-off chosen
on each fold's training data auto-publishes at --target-escape. With --verifier, a judge's P(True)
per sentence too (generation/verifier.py), its verdicts cached in a side file."""

import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from generation.evaluation import SPLITS, Evaluation, LabelFileError, evaluate, read_cases, select_split
from generation.evaluation_report import cross_validate_evaluation, format_cv_summary, format_summary, summarise
from generation.verifier import Judge, JudgeStats, VerdictCache, cached_judge, judge_provider
from reviewq.gating.features import DEFAULT_FEATURES, VERIFIER_FEATURES
from reviewq.gating.fit import FitParams
from reviewq.gating.gate import GateThresholds
from reviewq.gating.service import thresholds_for_catalog


def _thresholds_arg(value: str) -> tuple[float, float, float]:
    parts = value.split(",")
    if len(parts) != 3:
        raise ValueError
    return tuple(float(part) for part in parts)  # type: ignore[return-value]


class Command(BaseCommand):
    help = (
        "Run the production parse -> align -> gate path over a labelled JSONL file and print "
        "ROC-AUC / PR-AUC of the gate's risk and of mean logprob, band shares, error rate per "
        "band, escape rate and recall at the thresholds. No database writes."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="+", type=Path, metavar="FILE", help="JSONL: attributes, completion, sentences per line"
        )
        parser.add_argument(
            "--cv", type=int, metavar="K", help="fit the risk model and score it by K folds grouped by product"
        )
        parser.add_argument(
            "--target-escape",
            type=float,
            default=0.1,
            help="with --cv: the escape rate the publish cut-off must bound (default 0.1)",
        )
        parser.add_argument(
            "--confidence", type=float, default=0.95, help="with --cv: confidence of that bound (default 0.95)"
        )
        parser.add_argument(
            "--thresholds",
            help=(
                "publish_above,flag_below,critical_floor, written with = because they are negative: "
                "--thresholds=-0.5,-1.5,-2.3 (default: the global thresholds in force)"
            ),
        )
        parser.add_argument("--publish-above", type=float)
        parser.add_argument("--flag-below", type=float)
        parser.add_argument("--critical-floor", type=float)
        parser.add_argument("--split", choices=SPLITS, default="all", help="lines whose 'split' key matches")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the figures as JSON")
        parser.add_argument(
            "--verifier",
            metavar="JUDGE",
            help=(
                "also ask a judge whether the facts support each sentence (P(True), see GATE_VERIFIER): "
                "'embedded' or the base URL of an OpenAI-compatible server"
            ),
        )
        parser.add_argument("--verifier-model", default="", help="with a URL judge: the model it serves")
        parser.add_argument(
            "--verifier-cache",
            type=Path,
            help="JSONL side file of the judge's verdicts, reused by later runs (default: data/verifier-verdicts.jsonl)",
        )
        parser.add_argument(
            "--verifier-features",
            action="store_true",
            help="with --cv and --verifier: fit with the verifier's features added to the default ones",
        )

    def handle(self, *args, files: list[Path], split: str, as_json: bool, cv: int | None, **options):
        thresholds = self._thresholds(options)
        judge, judge_stats = self._judge(options)
        shown = ", ".join(map(str, files))
        evaluation = Evaluation(sentences=[], description_bands=[], thresholds=thresholds)
        n_cases = 0
        for file in files:
            cases = select_split(self._read(file), split)
            n_cases += len(cases)
            try:
                part = evaluate(cases, thresholds=thresholds, judge=judge)
            except LabelFileError as exc:
                raise CommandError(f"{file}: {exc}") from None
            evaluation.sentences += part.sentences
            evaluation.description_bands += part.description_bands
            evaluation.unlabelled += part.unlabelled
        if not n_cases:
            raise CommandError(f"{shown} has no lines for split {split!r}")
        if cv is not None:
            summary = self._cross_validate(evaluation, cv, options)
        else:
            summary = summarise(evaluation)
        if judge_stats is not None:
            summary["verifier"] = {
                "judge": options["verifier"],
                "calls": judge_stats.calls,
                "cached": judge_stats.cached,
                "failed": judge_stats.failed,
                "seconds_per_call": round(judge_stats.seconds / judge_stats.calls, 4) if judge_stats.calls else None,
            }
        summary["file"] = shown
        summary["files"] = [str(file) for file in files]
        summary["split"] = split
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
        elif cv is not None:
            self.stdout.write(f"{shown} (split: {split})\n" + format_cv_summary(summary))
        else:
            self.stdout.write(f"{shown} (split: {split})\n" + format_summary(summary))
        if judge_stats is not None and not as_json:
            self.stdout.write(
                f"verifier {options['verifier']}: {judge_stats.calls} calls, {judge_stats.cached} from the cache, "
                f"{judge_stats.failed} failed"
            )

    def _read(self, file: Path):
        try:
            with file.open(encoding="utf-8") as handle:
                return read_cases(handle)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8: {exc}") from None
        except LabelFileError as exc:
            raise CommandError(f"{file}: {exc}") from None

    def _judge(self, options) -> tuple[Judge | None, JudgeStats | None]:
        if not options.get("verifier"):
            if options.get("verifier_features"):
                raise CommandError("--verifier-features needs --verifier")
            return None, None
        cache_path = options.get("verifier_cache") or Path(settings.DATA_DIR) / "verifier-verdicts.jsonl"
        try:
            provider = judge_provider(options["verifier"], model=options.get("verifier_model") or "")
            cache = VerdictCache(cache_path)
        except (ValueError, ImproperlyConfigured, OSError) as exc:
            raise CommandError(f"--verifier: {exc}") from None
        stats = JudgeStats()
        return cached_judge(provider, cache, top_logprobs=settings.GATE_VERIFIER_TOP_LOGPROBS, stats=stats), stats

    def _cross_validate(self, evaluation, k: int, options) -> dict:
        target, confidence = options["target_escape"], options["confidence"]
        if k < 2:
            raise CommandError(f"--cv must be 2 or more, got {k}")
        for name, value in (("--target-escape", target), ("--confidence", confidence)):
            if not 0 < value < 1:
                raise CommandError(f"{name} must be between 0 and 1, got {value:g}")
        params = (
            FitParams(features=(*DEFAULT_FEATURES, *VERIFIER_FEATURES))
            if options.get("verifier_features")
            else FitParams()
        )
        try:
            return cross_validate_evaluation(
                evaluation, k=k, target_escape=target, confidence=confidence, params=params
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def _thresholds(self, options) -> GateThresholds:
        flags = {
            name: options[name]
            for name in ("publish_above", "flag_below", "critical_floor")
            if options.get(name) is not None
        }
        if options.get("thresholds"):
            if flags:
                raise CommandError("give --thresholds or the single threshold flags, not both")
            try:
                publish_above, flag_below, critical_floor = _thresholds_arg(options["thresholds"])
            except ValueError:
                raise CommandError(
                    f"--thresholds must be three numbers publish_above,flag_below,critical_floor, "
                    f"got {options['thresholds']!r}"
                ) from None
            flags = {"publish_above": publish_above, "flag_below": flag_below, "critical_floor": critical_floor}
        try:
            current = thresholds_for_catalog(catalog_id=None)
        except DatabaseError:
            current = GateThresholds()  # no database here: the defaults are what would apply
        thresholds = GateThresholds.of({**_as_dict(current), **flags})
        if not thresholds.publish_above > thresholds.flag_below:
            raise CommandError(
                f"publish_above ({thresholds.publish_above:g}) must be above flag_below ({thresholds.flag_below:g})"
            )
        return thresholds


def _as_dict(thresholds: GateThresholds) -> dict[str, float]:
    return {
        "publish_above": thresholds.publish_above,
        "flag_below": thresholds.flag_below,
        "critical_floor": thresholds.critical_floor,
    }
