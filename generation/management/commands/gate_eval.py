"""Measure the gate on labelled JSONL files (see generation/evaluation.py). Writes nothing.

Without --cv: the hand-set gate at the thresholds. With --cv K: the fitted risk model
(reviewq/gating/fit.py), per model, by K product-grouped folds, and what a cut-off chosen
on each fold's training data auto-publishes at --target-escape."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from generation.evaluation import (
    SPLITS,
    Evaluation,
    LabelFileError,
    cross_validate_evaluation,
    evaluate,
    format_cv_summary,
    format_summary,
    read_cases,
    select_split,
    summarise,
)
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

    def handle(self, *args, files: list[Path], split: str, as_json: bool, cv: int | None, **options):
        thresholds = self._thresholds(options)
        shown = ", ".join(map(str, files))
        evaluation = Evaluation(sentences=[], description_bands=[], thresholds=thresholds)
        n_cases = 0
        for file in files:
            cases = select_split(self._read(file), split)
            n_cases += len(cases)
            try:
                part = evaluate(cases, thresholds=thresholds)
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
        summary["file"] = shown
        summary["files"] = [str(file) for file in files]
        summary["split"] = split
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
        elif cv is not None:
            self.stdout.write(f"{shown} (split: {split})\n" + format_cv_summary(summary))
        else:
            self.stdout.write(f"{shown} (split: {split})\n" + format_summary(summary))

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

    def _cross_validate(self, evaluation, k: int, options) -> dict:
        target, confidence = options["target_escape"], options["confidence"]
        if k < 2:
            raise CommandError(f"--cv must be 2 or more, got {k}")
        for name, value in (("--target-escape", target), ("--confidence", confidence)):
            if not 0 < value < 1:
                raise CommandError(f"{name} must be between 0 and 1, got {value:g}")
        try:
            return cross_validate_evaluation(evaluation, k=k, target_escape=target, confidence=confidence)
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
