"""Measure the gate on a labelled JSONL file (see generation/evaluation.py). Writes nothing."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from generation.evaluation import (
    SPLITS,
    LabelFileError,
    evaluate,
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
        parser.add_argument("file", type=Path, help="JSONL: attributes, completion, sentences per line")
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

    def handle(self, *args, file: Path, split: str, as_json: bool, **options):
        thresholds = self._thresholds(options)
        try:
            with file.open(encoding="utf-8") as handle:
                cases = read_cases(handle)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8: {exc}") from None
        except LabelFileError as exc:
            raise CommandError(f"{file}: {exc}") from None
        cases = select_split(cases, split)
        if not cases:
            raise CommandError(f"{file} has no lines for split {split!r}")
        try:
            evaluation = evaluate(cases, thresholds=thresholds)
        except LabelFileError as exc:
            raise CommandError(f"{file}: {exc}") from None
        summary = summarise(evaluation)
        summary["file"] = str(file)
        summary["split"] = split
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
        else:
            self.stdout.write(f"{file} (split: {split})\n" + format_summary(summary))

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
