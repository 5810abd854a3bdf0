"""Which fitted-gate settings and signals help: repeated grouped CV on the labelled sets.

    DJANGO_SETTINGS_MODULE=reviewq.settings_test python bench/gate_features.py run [--split dev]
        [--cv 4] [--repeats 20] [--grid] [--by-span] [--add FEATURE ...]
        [--verifier embedded|URL [--verifier-model M] [--verifier-cache PATH]] [FILE ...]

    DJANGO_SETTINGS_MODULE=reviewq.settings_test python bench/gate_features.py transfer [--cv 4]
        [--target-escape 0.1] [FILE ...]

`transfer` fits on the dev split (per model, default features and settings), chooses the
publish cut-off from the dev split's grouped out-of-fold risks, and scores the heldout split
once: the honest held-out figure.

Not a benchmark: without arguments (as `make bench` runs it) it prints this and exits.

Out-of-fold ROC-AUC / PR-AUC of the fitted risk (reviewq/gating/fit.py, per model, GroupKFold
by product with shuffled groups, mean and standard deviation over --repeats shufflings; one
fold assignment alone moves ROC-AUC by several hundredths on ~25 products) for the base
features, optionally a grid of C and class_weight, and the base features plus each new signal.
"all" pools the per-model out-of-fold risks. Tune on --split dev only; run heldout once.
`gate_eval --cv` gives the auto-publish figures.

--verifier asks a judge for every sentence's P(True) (generation/verifier.py; verdicts cached
in --verifier-cache, default data/verifier-verdicts.jsonl, so a re-run makes no calls), prints
the verifier alone as a score, and lets --add name verifier_doubt / no_verifier.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FILES = [ROOT / "tests/data/gate_dev_set.jsonl", ROOT / "tests/data/gate_dev_set_qwen05b.jsonl"]


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("run", "transfer"):
        print(__doc__)
        return
    if argv[0] == "transfer":
        transfer(argv[1:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*", type=Path, default=FILES)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--cv", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--grid", action="store_true", help="also the C x class_weight grid")
    parser.add_argument("--by-span", action="store_true", help="score labelled spans, not our sentences")
    parser.add_argument("--add", nargs="+", default=[], help="features to try on top of the default ones")
    parser.add_argument("--verifier", help="judge for P(True): 'embedded' or an OpenAI-compatible base URL")
    parser.add_argument("--verifier-model", default="")
    parser.add_argument("--verifier-cache", type=Path, default=ROOT / "data" / "verifier-verdicts.jsonl")
    args = parser.parse_args(argv[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings_test")
    import django

    django.setup()
    import numpy as np

    from generation.evaluation import evaluate, read_cases, select_split
    from generation.evaluation_report import mean_logprob_risk
    from reviewq.gating.features import BASE_FEATURES, DEFAULT_FEATURES, NEW_FEATURES
    from reviewq.gating.fit import (
        DEFAULT_C,
        DEFAULT_CLASS_WEIGHT,
        FitParams,
        design_matrix,
        out_of_fold_risk,
        ranking_metrics,
    )
    from reviewq.gating.gate import GateThresholds

    judge, stats = None, None
    if args.verifier:
        from generation.verifier import JudgeStats, VerdictCache, cached_judge, judge_provider

        stats = JudgeStats()
        provider = judge_provider(args.verifier, model=args.verifier_model)
        judge = cached_judge(provider, VerdictCache(args.verifier_cache), stats=stats)
    sentences = []
    for file in args.files:
        with file.open(encoding="utf-8") as handle:
            cases = select_split(read_cases(handle), args.split)
        sentences += evaluate(cases, thresholds=GateThresholds(), judge=judge).sentences
    if stats is not None:
        per_call = f"{stats.seconds / stats.calls:.3f} s per call" if stats.calls else "no calls"
        print(
            f"verifier {args.verifier}: {stats.calls} calls ({per_call}), {stats.cached} cached, {stats.failed} failed"
        )
    models = sorted({s.model for s in sentences})
    index = {m: [i for i, s in enumerate(sentences) if s.model == m] for m in models}
    y = np.array([s.error for s in sentences])
    groups = np.array([s.group for s in sentences])

    # --by-span: one score per labelled span (the riskiest of our sentences in it), so splitters
    # that cut a labelled span into several sentences are compared on the same units.
    span_of = [(s.case, s.span) for s in sentences]
    spans = sorted(set(span_of))
    span_index = {span: j for j, span in enumerate(spans)}
    span_rows = np.array([span_index[key] for key in span_of])

    def scores(values, rows=None):
        rows = list(range(len(y))) if rows is None else rows
        values = np.asarray(values, dtype=float)[rows]
        labels = y[rows]
        if args.by_span:
            keys = span_rows[rows]
            best = np.full(len(spans), -np.inf)
            np.maximum.at(best, keys, values)
            present = np.unique(keys)
            span_label = np.zeros(len(spans), dtype=bool)
            span_label[keys] = labels
            values, labels = best[present], span_label[present]
        metrics = ranking_metrics(labels, {"s": values})
        return metrics["roc_auc"]["s"], metrics["pr_auc"]["s"]

    gate = [s.risk for s in sentences]
    baseline = [mean_logprob_risk(s.mean_logprob) for s in sentences]
    print(f"split {args.split}, {args.cv} folds x {args.repeats} shuffles: ROC-AUC (sd) / PR-AUC")
    print(f"{'':<36}" + "".join(f"{name[:30]:>32}" for name in ["all", *models]))
    plain = [("gate risk (hand-set)", gate), ("mean logprob (negated)", baseline)]
    if judge is not None:
        from generation.evaluation_report import verified_count, verifier_risk

        print(f"{verified_count(sentences)} of {len(sentences)} sentences have a verdict")
        plain.append(("verifier alone (1 - P(True))", [verifier_risk(s.signals) for s in sentences]))
    for label, values in plain:
        cells = [scores(values)] + [scores(values, index[m]) for m in models]
        print(f"{label:<36}" + "".join(f"{f'{roc:.3f}':>21}{'':>5}{pr:>6.3f}" for roc, pr in cells))

    def row(label: str, params: FitParams) -> None:
        runs = []
        for seed in range(args.repeats):
            risk = np.empty(len(y))
            for m in models:
                rows = index[m]
                X = design_matrix([sentences[i].signals for i in rows], params.features)
                risk[rows] = out_of_fold_risk(X, y[rows], groups[rows], args.cv, params, seed=seed)
            runs.append([scores(risk)] + [scores(risk, index[m]) for m in models])
        runs = np.array(runs)  # repeats x scopes x (roc, pr)
        mean, sd = runs.mean(axis=0), runs.std(axis=0)
        print(
            f"{label:<36}"
            + "".join(f"{f'{mean[j, 0]:.3f} ({sd[j, 0]:.3f})':>21}{'':>5}{mean[j, 1]:>6.3f}" for j in range(len(mean))),
            flush=True,
        )

    tuned = {"C": DEFAULT_C, "class_weight": DEFAULT_CLASS_WEIGHT}
    if args.add:
        row("default", FitParams(features=DEFAULT_FEATURES, **tuned))
        for name in args.add:
            row(f"default + {name}", FitParams(features=(*DEFAULT_FEATURES, name), **tuned))
        if len(args.add) > 1:
            row("default + all added", FitParams(features=(*DEFAULT_FEATURES, *args.add), **tuned))
        return
    if args.grid:
        for class_weight in (None, "balanced"):
            for C in (0.03, 0.1, 0.3, 1.0, 3.0):
                row(f"base C={C} cw={class_weight}", FitParams(features=BASE_FEATURES, C=C, class_weight=class_weight))
    row("base", FitParams(features=BASE_FEATURES, **tuned))
    for name in NEW_FEATURES:
        row(f"base + {name}", FitParams(features=(*BASE_FEATURES, name), **tuned))
    row("base + all new", FitParams(features=(*BASE_FEATURES, *NEW_FEATURES), **tuned))
    for name in NEW_FEATURES:
        others = tuple(n for n in NEW_FEATURES if n != name)
        row(f"base + all new - {name}", FitParams(features=(*BASE_FEATURES, *others), **tuned))


def transfer(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*", type=Path, default=FILES)
    parser.add_argument("--cv", type=int, default=4)
    parser.add_argument("--target-escape", type=float, default=0.1)
    parser.add_argument("--confidence", type=float, default=0.95)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings_test")
    import django

    django.setup()
    import numpy as np

    from generation.evaluation import evaluate, read_cases, select_split
    from generation.evaluation_report import mean_logprob_risk
    from reviewq.gating.cutoffs import publish_cutoff
    from reviewq.gating.fit import (
        FitParams,
        design_matrix,
        fit_risk_model,
        out_of_fold_risk,
        predict_risk,
        publish_summary,
        ranking_metrics,
    )
    from reviewq.gating.gate import GateThresholds

    by_split = {"dev": [], "heldout": []}
    for file in args.files:
        with file.open(encoding="utf-8") as handle:
            cases = read_cases(handle)
        for split in by_split:
            by_split[split] += evaluate(select_split(cases, split), thresholds=GateThresholds()).sentences
    params = FitParams()
    dev, test = by_split["dev"], by_split["heldout"]
    risk, published = np.empty(len(test)), np.zeros(len(test), dtype=bool)
    print(f"fit on dev, scored on heldout; cut-off from dev out-of-fold risks at escape <= {args.target_escape}")
    print(
        f"{'scope':<30}{'sent.':>6}{'err.':>5}{'fitted':>8}{'gate':>7}{'mean lp':>8}{'PR fit':>8}"
        f"{'cut-off':>9}{'publ.':>6}{'correct publ.':>14}{'escape':>8}"
    )
    rows_out = []
    for model in sorted({s.model for s in dev}):
        train = [s for s in dev if s.model == model]
        rows = [i for i, s in enumerate(test) if s.model == model]
        X = design_matrix([s.signals for s in train], params.features)
        y = np.array([s.error for s in train])
        fitted = fit_risk_model(X, y, params)
        train_groups = [s.group for s in train]
        inner = out_of_fold_risk(X, y, np.array(train_groups), args.cv, params)
        cut = publish_cutoff(
            inner.tolist(), y.tolist(), target=args.target_escape, confidence=args.confidence, groups=train_groups
        )
        risk[rows] = predict_risk(fitted, design_matrix([test[i].signals for i in rows], params.features))
        published[rows] = [cut.publishes(r) for r in risk[rows]]
        rows_out.append((model, rows, cut))
    rows_out.insert(0, ("all", list(range(len(test))), None))
    for name, rows, cut in rows_out:
        y = [test[i].error for i in rows]
        metrics = ranking_metrics(
            y,
            {
                "fitted": risk[rows],
                "gate": [test[i].risk for i in rows],
                "mean_logprob": [mean_logprob_risk(test[i].mean_logprob) for i in rows],
            },
        )
        pub = publish_summary(y, published[rows], args.confidence)
        shown_cut = "" if cut is None else ("none" if cut.cutoff is None else f"{cut.cutoff:.3f}")
        escape = "n/a" if pub["escape_rate"] is None else f"{100 * pub['escape_rate']:.1f}%"
        print(
            f"{name[:29]:<30}{len(rows):>6}{sum(y):>5}{metrics['roc_auc']['fitted']:>8.3f}"
            f"{metrics['roc_auc']['gate']:>7.3f}{metrics['roc_auc']['mean_logprob']:>8.3f}"
            f"{metrics['pr_auc']['fitted']:>8.3f}{shown_cut:>9}{pub['published']:>6}"
            f"{100 * (pub['published_correct_share'] or 0):>13.1f}%{escape:>8}"
        )
        if cut is not None and cut.cutoff is None:
            print(f"{'':<30}dev labels cannot certify a cut-off; about {cut.labels_needed} more needed")


if __name__ == "__main__":
    main(sys.argv[1:])
