"""The gate's database side: thresholds and gate model in force, gating a fresh description,
re-gating stored sentences after a threshold change with set-based queries, and re-gating one
sentence after a reviewer changed its text (`sentence_regate`).

Stored Sentence.reasons hold only the threshold-independent reasons; the ones that depend on
the thresholds ("mean logprob -1.9 below flag threshold -1.5") are derived when shown
(`sentence_reasons`), so a re-gate never has to rewrite JSON row by row.
"""

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Case, Exists, F, FloatField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce, Exp, Greatest, Least, Ln

from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import (
    Catalog,
    Description,
    DescriptionStatus,
    GateModel,
    Sentence,
    SentenceBand,
    Thresholds,
    Token,
)
from reviewq.core.transitions import descriptions_transition_where
from reviewq.gating.copy_checks import prompt_echo_runs
from reviewq.gating.gate import (
    REMOVED_DECISION,
    THRESHOLD_REASON_PREFIXES,
    GateThresholds,
    SentenceScore,
    description_outcome,
    description_risk,
    score_description,
    score_sentence,
    threshold_reasons,
    thresholds_problems,
)
from reviewq.gating.inference import fitted_band, fitted_risk
from reviewq.gating.signals import GateToken
from reviewq.gating.verifier import SIGNAL_KEY as VERIFIER_KEY

S = DescriptionStatus
B = SentenceBand


class TokenInput(NamedTuple):
    """One generated token as the gate reads it (a NamedTuple: storing builds one per token)."""

    text: str
    logprob: float | None
    alternatives: Sequence[tuple[str, float | None]]
    sentence: int  # index into GateInput.sentences
    char_start: int  # offset in the description text


@dataclass(frozen=True)
class GateInput:
    sentences: Sequence[str]
    sentence_starts: Sequence[int]
    tokens: Sequence[TokenInput]
    attributes: Mapping[str, Any]
    product_name: str = ""
    finish_reason: str = ""
    has_logprobs: bool = True
    prompt: str = ""  # the prompt text it was generated from (Description.prompt): echoes are flagged
    # The verifier pass's P(True) per sentence (generation/verifier.py), or empty (not run).
    verifier_p_true: Sequence[float | None] = ()
    # The texts of the candidates pick_best did not keep (LLM_CANDIDATES > 1): agreement signals.
    other_candidates: Sequence[str] = ()


@dataclass(frozen=True)
class GateResult:
    sentences: list[SentenceScore]
    outcome: str  # a Description status: published | review
    risk: float

    @property
    def summary(self) -> str:
        counts = {band: sum(1 for s in self.sentences if s.band == band) for band in B.values}
        return ", ".join(f"{n} {band}" for band, n in counts.items() if n) or "no sentences"


def thresholds_for_catalog(*, catalog_id: int | None) -> GateThresholds:
    """The catalog's override if it has one, else the global row, else the defaults."""
    rows = {
        row["catalog_id"]: row
        for row in Thresholds.objects.filter(Q(catalog_id=catalog_id) | Q(catalog__isnull=True)).values(
            "catalog_id", *(f.name for f in dataclasses.fields(GateThresholds))
        )
    }
    return GateThresholds.of(rows.get(catalog_id) or rows.get(None))


def gate_description(data: GateInput, *, thresholds: GateThresholds, publish_confident_now: bool) -> GateResult:
    """Score every sentence of a freshly generated description (pure: no database access)."""
    per_sentence: list[list[GateToken]] = [[] for _ in data.sentences]
    starts = data.sentence_starts
    for text, logprob, alternatives, sentence, char_start in data.tokens:
        per_sentence[sentence].append(GateToken(text, logprob, alternatives, char_start - starts[sentence]))
    scores = score_description(
        sentences=list(zip(data.sentences, per_sentence, strict=True)),
        attributes=data.attributes,
        product_name=data.product_name,
        truncated=data.finish_reason == "length",
        thresholds=thresholds,
        prompt=data.prompt,
        verifier=data.verifier_p_true,
        other_candidates=data.other_candidates,
    )
    outcome = description_outcome(((s.band, "") for s in scores), publish_confident_now)
    return GateResult(sentences=scores, outcome=outcome, risk=description_risk(s.risk for s in scores))


def stored_reasons(score: SentenceScore) -> list[str]:
    """The reasons worth storing: those that do not change with the thresholds."""
    return [r for r in score.reasons if not r.startswith(THRESHOLD_REASON_PREFIXES)]


# The Sentence columns a gate score is stored in, in the order sentence_score_columns gives them.
SCORE_COLUMNS = (
    "band",
    "mean_logprob",
    "min_logprob",
    "risk",
    "critical_min_logprob",
    "hard_flag",
    "has_warning",
    "signals",
    "reasons",
    "fitted_risk",
)


def adopted_gate_model(*, model_name: str, catalog_id: int | None = None) -> GateModel | None:
    """The model scoring a scope now: the catalog's own, else the one for all catalogs."""
    scopes = Q(catalog__isnull=True) if catalog_id is None else Q(catalog_id=catalog_id) | Q(catalog__isnull=True)
    # One query per stored result (at most one adopted per scope; the catalog's own sorts first);
    # the calibration and metrics JSON are not needed to score and load only when read.
    return (
        GateModel.objects.filter(scopes, model_name=model_name, adopted=True)
        .defer("calibration", "metrics")
        .order_by(F("catalog_id").asc(nulls_last=True))
        .first()
    )


# Adopted gate models by (id, created_at): a fitted model's weights and cut-offs never change
# after the fit (adopting and reverting flip `adopted` only), so a process loads each once.
_GATE_MODELS: dict[tuple[int, Any], GateModel] = {}


@functools.cache
def _gate_config_sql() -> str:
    thresholds, gate_models = Thresholds._meta.db_table, GateModel._meta.db_table
    return (
        f'SELECT 0, catalog_id, publish_above, flag_below, critical_floor, NULL, NULL FROM "{thresholds}" '
        "WHERE catalog_id = %s OR catalog_id IS NULL "
        f'UNION ALL SELECT 1, catalog_id, NULL, NULL, NULL, id, created_at FROM "{gate_models}" '
        "WHERE adopted = %s AND model_name = %s AND (catalog_id = %s OR catalog_id IS NULL)"
    )


def gate_config(*, catalog_id: int | None, model_name: str) -> tuple[GateThresholds, GateModel | None]:
    """thresholds_for_catalog and adopted_gate_model in one plain statement (what storing a
    result reads per catalog and model, so it is read fresh every time without the ORM
    building two queries); the adopted model's row is loaded once per process."""
    with connection.cursor() as cursor:
        cursor.execute(_gate_config_sql(), [catalog_id, True, model_name, catalog_id])
        rows = cursor.fetchall()
    thresholds = {row[1]: row for row in rows if row[0] == 0}
    models = {row[1]: row for row in rows if row[0] == 1}
    row = thresholds.get(catalog_id) if catalog_id is not None else None
    row = row or thresholds.get(None)
    found = GateThresholds() if row is None else GateThresholds.of(dict(zip(_THRESHOLD_NAMES, row[2:5], strict=True)))
    adopted = (models.get(catalog_id) if catalog_id is not None else None) or models.get(None)
    if adopted is None:
        return found, None
    key = (adopted[5], adopted[6])
    gate_model = _GATE_MODELS.get(key)
    if gate_model is None:
        gate_model = GateModel.objects.defer("calibration", "metrics").filter(pk=adopted[5]).first()
        if gate_model is None:  # deleted since the read: score as if none were adopted
            return found, None
        _GATE_MODELS[key] = gate_model
    return found, gate_model


_THRESHOLD_NAMES = ("publish_above", "flag_below", "critical_floor")


def sentence_score_columns(score: SentenceScore, *, gate_model: GateModel | None = None) -> dict[str, Any]:
    """The one way a gate score becomes Sentence column values (storing, regenerating,
    re-gating). With an adopted `gate_model` its risk decides publish vs review; the hand-set
    flags stay."""
    columns = {
        "band": score.band,
        "mean_logprob": score.mean_logprob,
        "min_logprob": score.min_logprob,
        "risk": score.risk,
        "critical_min_logprob": score.signals.get("critical_min_logprob"),
        "hard_flag": bool(score.signals.get("hard_flag")),
        "has_warning": bool(score.signals.get("has_warning")),
        "signals": score.signals,
        "reasons": stored_reasons(score),
        "fitted_risk": None,
    }
    if gate_model is not None:
        risk = fitted_risk(score.signals, gate_model.weights)
        columns["fitted_risk"] = risk
        columns["band"] = fitted_band(
            hand_band=score.band,
            signals=score.signals,
            risk=risk,
            cutoff=gate_model.publish_cutoff,
            flag_cutoff=gate_model.flag_cutoff,
        )
    return columns


# --- Re-gating one sentence a reviewer changed ---------------------------------------------------


def substituted_logprob(alternatives: Sequence[Any], replacement: str) -> float | None:
    """The logprob the model gave the alternative a reviewer chose for a token (the replacement
    may have gained the token's leading space), None if it was not offered with one."""
    for alternative in alternatives or []:
        if alternative and str(alternative[0]).strip() == replacement.strip():
            return alternative[1] if len(alternative) > 1 else None
    return None


def _stored_token(token: Token, offset: int) -> GateToken:
    return GateToken(token.text, token.logprob, [tuple(a) for a in token.alternatives or [] if a], offset)


def _substituted_token(token: Token, replacement: str, offset: int) -> GateToken:
    """A token with the reviewer's chosen alternative in its place: the same choice the model
    faced (its alternatives, the generated token among them), the alternative's logprob."""
    alternatives = [
        (replacement if str(alt[0]).strip() == replacement.strip() else str(alt[0]), alt[1] if len(alt) > 1 else None)
        for alt in token.alternatives or []
        if alt
    ]
    if token.logprob is not None and all(text != token.text for text, _ in alternatives):
        alternatives.append((token.text, token.logprob))
    return GateToken(replacement, substituted_logprob(token.alternatives, replacement), alternatives, offset)


def _tokens_spelling(sentence: Sentence, tokens: Sequence[Token], text: str) -> list[GateToken] | None:
    """The gate tokens that spell `text`: the generated ones, or those with the reviewer's
    substitutions in place; None when a reviewer typed the text (no token speaks for it)."""
    substitutions = {int(position): value for position, value in (sentence.substitutions or {}).items()}
    if not substitutions:
        if text != sentence.text:
            return None
        return [_stored_token(t, t.char_start - sentence.char_start) for t in tokens]
    if "".join(substitutions.get(t.position, t.text) for t in tokens) != text:
        return None
    spelled, offset = [], 0
    for t in tokens:
        if t.position in substitutions:
            spelled.append(_substituted_token(t, substitutions[t.position], offset))
        else:
            spelled.append(_stored_token(t, offset))
        offset += len(spelled[-1].text)
    return spelled


@transaction.atomic
def sentence_regate(*, sentence: Sentence) -> Sentence:
    """Re-gate one stored sentence as it reads now (its current text, the reviewer's token
    substitutions in place) and store the score; the review services call it after every
    change of a sentence's text. Tokens that still spell the text score it as generation does
    (a substituted token with the logprob the model gave that alternative); text a reviewer
    typed gets the text-only signals, its logprob signals marked as not applying
    (gate.EDITED_REASON). An adopted gate model scores it too; Description.risk follows
    (queue_sentence_risk).

    While the text differs from the generated one, the score the generated text had is kept in
    Sentence.generated_score: labels and calibration judge the gate on what the model wrote."""
    sentence = Sentence.objects.select_related("description__product").get(pk=sentence.pk)
    description = sentence.description
    text = sentence.current_text
    tokens = list(Token.objects.filter(sentence=sentence).order_by("position"))
    spelled = _tokens_spelling(sentence, tokens, text)
    product = description.product
    siblings = list(description.sentences.order_by("index").only("index", "text", "edited_text", "decision"))
    score = score_sentence(
        text=text,
        tokens=spelled or (),
        attributes=product.attributes or {},
        product_name=product.name,
        truncated=description.finish_reason == "length",
        is_last=sentence.index == siblings[-1].index,
        previous=[s.current_text for s in siblings if s.index < sentence.index and s.decision != REMOVED_DECISION],
        thresholds=thresholds_for_catalog(catalog_id=product.catalog_id),
        echo_runs=prompt_echo_runs(description.prompt, attributes=product.attributes or {}, product_name=product.name),
        edited=spelled is None,
        verifier_p_true=_generated_verdict(sentence, text),
    )
    generated = None
    if text != sentence.text or sentence.substitutions:
        generated = sentence.generated_score or {column: getattr(sentence, column) for column in SCORE_COLUMNS}
    gate_model = adopted_gate_model(model_name=description.model, catalog_id=product.catalog_id)
    Sentence.objects.filter(pk=sentence.pk).update(
        **sentence_score_columns(score, gate_model=gate_model), generated_score=generated
    )
    risks = Sentence.objects.filter(description_id=description.pk).values_list("risk", "fitted_risk")
    Description.objects.filter(pk=description.pk).update(
        risk=description_risk(queue_sentence_risk(r, f, fitted=gate_model is not None) for r, f in risks)
    )
    sentence.refresh_from_db()
    return sentence


def _generated_verdict(sentence: Sentence, text: str) -> float | None:
    """The verifier's verdict on the generated text, while the sentence still reads as generated
    (a verdict on other words would not be about this text)."""
    if text != sentence.text or sentence.substitutions:
        return None
    signals = (sentence.generated_score or {}).get("signals") or sentence.signals or {}
    return signals.get(VERIFIER_KEY)


# --- The queue's sort key: Description.risk ------------------------------------------------------


def queue_sentence_risk(risk: float, fitted_risk: float | None, *, fitted: bool) -> float:
    """What a sentence adds to Description.risk: under an adopted gate model (`fitted`) its
    fitted risk where it has one (sentences decided before the adoption keep none), else the
    hand-set gate's risk."""
    return fitted_risk if fitted and fitted_risk is not None else risk


_F = FloatField()
# LN(0) raises and EXP underflows to an error on PostgreSQL: 1 - r >= 1e-12, the sum >= -700.
_KEEP_FLOOR, _LOG_FLOOR = 1e-12, -700.0


def description_risk_expression(*, fitted: bool) -> Combinable:
    """gate.description_risk over a description's sentences as SQL (kept equal by a test),
    each sentence's risk from queue_sentence_risk: 1 - exp(sum(ln(1 - r)))."""
    risk = Coalesce(F("fitted_risk"), F("risk"), output_field=_F) if fitted else F("risk")
    keep = Greatest(Value(1.0, output_field=_F) - Least(Greatest(risk, Value(0.0)), Value(1.0)), Value(_KEEP_FLOOR))
    log_keep = (
        Sentence.objects.filter(description=OuterRef("pk"))
        .order_by()
        .values("description")
        .annotate(total=Sum(Ln(keep), output_field=_F))
        .values("total")
    )
    total = Coalesce(Subquery(log_keep, output_field=_F), Value(0.0, output_field=_F))
    return Value(1.0, output_field=_F) - Exp(Greatest(total, Value(_LOG_FLOOR, output_field=_F)))


def sentence_reasons(sentence: Sentence, thresholds: GateThresholds) -> list[str]:
    """Everything to show beside a sentence under the thresholds in force."""
    return list(sentence.reasons) + threshold_reasons(_band_signals(sentence), thresholds)


def reason_text(reason: Any) -> str:
    """A gate reason as one line; the gate stores strings or {code, message} objects."""
    if isinstance(reason, dict):
        return str(reason.get("message") or reason.get("text") or reason.get("code") or "")
    return str(reason)


def _band_signals(sentence: Sentence) -> dict[str, Any]:
    return {
        "hard_flag": sentence.hard_flag,
        "has_logprobs": sentence.mean_logprob is not None,
        "mean_logprob": sentence.mean_logprob,
        "critical_min_logprob": sentence.critical_min_logprob,
        "has_warning": sentence.has_warning,
    }


def band_expression(thresholds: GateThresholds) -> Case:
    """gate.band_for as SQL over Sentence's columns (kept equal by a test)."""
    return Case(
        When(hard_flag=True, then=Value(B.FLAG)),
        When(mean_logprob__isnull=True, then=Value(B.REVIEW)),
        When(mean_logprob__lt=thresholds.flag_below, then=Value(B.FLAG)),
        When(critical_min_logprob__lt=thresholds.critical_floor, then=Value(B.FLAG)),
        When(Q(mean_logprob__gt=thresholds.publish_above, has_warning=False), then=Value(B.PUBLISH)),
        default=Value(B.REVIEW),
    )


def _scope_catalog_ids(catalog: Catalog | None) -> list[int]:
    """Catalog ids a threshold row governs: one catalog, or (global row) those without an override."""
    if catalog is not None:
        return [catalog.pk]
    return list(Catalog.objects.filter(thresholds__isnull=True).values_list("id", flat=True))


@dataclass(frozen=True)
class RegateResult:
    sentences_changed: int
    published: int
    back_to_review: int


@transaction.atomic
def sentences_regate(*, catalog: Catalog | None, actor: AbstractBaseUser | None = None) -> RegateResult:
    """Re-band the undecided sentences governed by `catalog`'s thresholds (the global row when
    None) and move descriptions between REVIEW and PUBLISHED to match, set-based.

    Sentences a reviewer decided are never touched, nor descriptions a reviewer finished
    (rejected) or that are still being generated.
    """
    thresholds = thresholds_for_catalog(catalog_id=catalog.pk if catalog else None)
    catalog_ids = _scope_catalog_ids(catalog)
    band = band_expression(thresholds)
    # A subquery on descriptions rather than a join through Sentence.description: an UPDATE
    # whose filter joins gets a self-join on the sentence table (Django matches pk__in).
    # Sentences scored by an adopted gate model (fitted_risk set) follow that model, not these
    # thresholds: reviewq/gating/gate_models.py re-bands them when a model is adopted or reverted.
    sentences = Sentence.objects.filter(
        decision=Sentence.Decision.NONE,
        fitted_risk__isnull=True,
        description_id__in=Description.objects.filter(
            product__catalog_id__in=catalog_ids, status__in=[S.REVIEW, S.PUBLISHED]
        ).values("id"),
    )
    changed = sentences.annotate(new_band=band).exclude(band=F("new_band")).update(band=band)
    published, back = descriptions_follow_sentences(catalog_ids=catalog_ids, actor=actor)
    return RegateResult(sentences_changed=changed, published=published, back_to_review=back)


def descriptions_follow_sentences(
    *, catalog_ids: list[int], actor: AbstractBaseUser | None = None, note: str = "thresholds changed"
) -> tuple[int, int]:
    """gate.description_outcome as SQL: REVIEW -> PUBLISHED when every kept sentence is
    publishable (or, under the publish-confident-now policy, any is). Like a run's results
    (generation.storage), a draft beside a live copy waits for a reviewer: a person decided that
    copy, so a threshold change never replaces it. A live revision is never moved back to
    review either: demoting it would drop it from exports."""
    kept_publishable = Sentence.objects.filter(description=OuterRef("pk")).filter(
        Q(decision__in=[Sentence.Decision.APPROVED, Sentence.Decision.EDITED])
        | Q(decision=Sentence.Decision.NONE, band=B.PUBLISH)
    )
    blocking = Sentence.objects.filter(description=OuterRef("pk"), decision=Sentence.Decision.NONE).exclude(
        band=B.PUBLISH
    )
    publishable = Q(Exists(kept_publishable)) & (Q(product__catalog__publish_confident_now=True) | ~Q(Exists(blocking)))
    live = Description.objects.filter(product=OuterRef("product"), status=S.PUBLISHED)
    in_scope = Description.objects.filter(product__catalog_id__in=catalog_ids)
    published = descriptions_transition_where(
        descriptions=in_scope,
        from_statuses=[S.REVIEW],
        to_status=S.PUBLISHED,
        condition=publishable & ~Q(Exists(live)),
        action=AuditAction.REGATED,
        actor=actor,
        note=note,
    )
    return len(published), 0


@transaction.atomic
def thresholds_update(
    *,
    catalog: Catalog | None,
    publish_above: float,
    flag_below: float,
    critical_floor: float,
    actor: AbstractBaseUser | None = None,
) -> RegateResult:
    """Save the thresholds for a catalog (or the global row), audit the change, re-gate."""
    problems = thresholds_problems(
        GateThresholds(publish_above=publish_above, flag_below=flag_below, critical_floor=critical_floor)
    )
    if problems:
        raise ValueError(" ".join(problems))
    row, _ = Thresholds.objects.select_for_update().get_or_create(catalog=catalog)
    before = {"publish_above": row.publish_above, "flag_below": row.flag_below, "critical_floor": row.critical_floor}
    row.publish_above, row.flag_below, row.critical_floor = publish_above, flag_below, critical_floor
    row.updated_by = audit_actor(actor)
    row.save()
    result = sentences_regate(catalog=catalog, actor=actor)
    audit_record(
        action=AuditAction.THRESHOLDS_CHANGED,
        actor=actor,
        catalog=catalog,
        before=before,
        after={
            "publish_above": publish_above,
            "flag_below": flag_below,
            "critical_floor": critical_floor,
            "sentences_changed": result.sentences_changed,
            "published": result.published,
            "back_to_review": result.back_to_review,
        },
    )
    return result
