"""Gate evaluation on labelled completions (pure: no database access).

A label file holds one JSON object per line:

    {"attributes": {...}, "completion": {OpenAI chat.completion}, "sentences": [
        {"text": "...", "start": 0, "end": 42, "error": true}, ...]}

optionally with "name" (the product name), "id", "split", "product" (the fold group), "model",
"distribution" (how the copy was sampled: reported apart by gate_eval --cv), "candidates" and
any other key (ignored).
`start`/`end` are character offsets into choices[0].message.content. "candidates"
(LLM_CANDIDATES > 1) lists the chat.completion bodies of every candidate of the prompt, the
kept one among them: the others' texts give the agreement signals, as production's
other_candidates does. Each line is parsed, aligned and gated exactly as production stores a
completion (completion_from_openai -> align -> gate_description); each of our sentences takes
the label of the labelled span it overlaps most, so the labels may come from another sentence
splitter. The figures computed from an evaluation are in generation.evaluation_report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from generation.alignment import align
from generation.providers.common import other_candidates
from generation.providers.openai_compat import completion_from_openai
from generation.storage import gate_input
from generation.types import Completion
from reviewq.gating.gate import FLAG, PUBLISH, REVIEW, GateThresholds
from reviewq.gating.service import gate_description

if TYPE_CHECKING:
    from generation.verifier import Judge

BANDS = (PUBLISH, REVIEW, FLAG)
SPLITS = ("dev", "heldout", "all")
EVAL_PROVIDER = "gate_eval"


class LabelFileError(ValueError):
    """A malformed label line; the message starts with "line N:"."""


@dataclass(frozen=True, slots=True)
class LabelledSpan:
    start: int
    end: int
    error: bool
    kind: str = ""


@dataclass(frozen=True)
class LabelledCase:
    line: int
    id: str
    attributes: Mapping[str, Any]
    name: str
    completion: Mapping[str, Any]
    spans: tuple[LabelledSpan, ...]
    split: str = ""
    prompt: str = ""  # the prompt text, as stored on Description.prompt (optional)
    group: str = ""  # cross-validation fold group: the "product" key, else the name, else the id
    model: str = ""  # the "model" key, else the completion's model
    distribution: str = ""  # the "distribution" key (how the copy was sampled), else the model
    candidates: tuple[Mapping[str, Any], ...] = ()  # every candidate's chat.completion, the kept one too


@dataclass(frozen=True, slots=True)
class EvaluatedSentence:
    case: str
    index: int
    text: str
    error: bool
    kind: str
    band: str
    risk: float
    mean_logprob: float | None
    reasons: tuple[str, ...] = ()
    signals: Mapping[str, Any] = field(default_factory=dict)
    group: str = ""
    model: str = ""
    span: int = -1  # index of the labelled span it took its label from
    distribution: str = ""


@dataclass
class Evaluation:
    sentences: list[EvaluatedSentence]
    description_bands: list[str]
    unlabelled: int = 0
    thresholds: GateThresholds = field(default_factory=GateThresholds)


# ---------------------------------------------------------------------------------------------
# Reading label files


def _fail(line: int, message: str) -> LabelFileError:
    return LabelFileError(f"line {line}: {message}")


def _parse_span(raw: Any, *, line: int, position: int, length: int) -> LabelledSpan:
    where = f"sentences[{position}]"
    if not isinstance(raw, Mapping):
        raise _fail(line, f"{where} must be an object, got {type(raw).__name__}")
    for key in ("start", "end", "error"):
        if key not in raw:
            raise _fail(line, f"{where} has no {key!r}")
    start, end, error = raw["start"], raw["end"], raw["error"]
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
        raise _fail(line, f"{where} start/end must be integers, got {start!r}, {end!r}")
    if not 0 <= start < end <= length:
        raise _fail(line, f"{where} span {start}..{end} is not inside the {length}-char message content")
    if not isinstance(error, bool):
        raise _fail(line, f"{where} error must be true or false, got {error!r}")
    kind = raw.get("kind") or ""
    return LabelledSpan(start=start, end=end, error=error, kind=str(kind))


def parse_case(text: str, *, line: int) -> LabelledCase:
    """One label line; raises LabelFileError naming the line for anything malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(line, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, Mapping):
        raise _fail(line, f"expected a JSON object, got {type(data).__name__}")
    for key in ("attributes", "completion", "sentences"):
        if key not in data:
            raise _fail(line, f"missing key {key!r}")
    attributes, completion, sentences = data["attributes"], data["completion"], data["sentences"]
    if not isinstance(attributes, Mapping):
        raise _fail(line, "'attributes' must be an object")
    if not isinstance(completion, Mapping):
        raise _fail(line, "'completion' must be an object (an OpenAI chat.completion)")
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise _fail(line, "'completion' has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, str):
        raise _fail(line, "'completion' choices[0].message.content must be a string")
    if not isinstance(sentences, list):
        raise _fail(line, "'sentences' must be a list")
    candidates = data.get("candidates") or []
    if not isinstance(candidates, list) or not all(isinstance(c, Mapping) for c in candidates):
        raise _fail(line, "'candidates' must be a list of chat.completion objects")
    spans = tuple(_parse_span(raw, line=line, position=i, length=len(content)) for i, raw in enumerate(sentences))
    case_id = str(data.get("id", f"line-{line}"))
    name = str(data.get("name") or data.get("product_name") or "")
    model = str(data.get("model") or completion.get("model") or "unknown")
    return LabelledCase(
        line=line,
        id=case_id,
        attributes=attributes,
        name=name,
        completion=completion,
        spans=spans,
        split=str(data.get("split") or ""),
        prompt=str(data.get("prompt") or ""),
        group=str(data.get("product") or name or case_id),
        model=model,
        distribution=str(data.get("distribution") or model),
        candidates=tuple(candidates),
    )


def read_cases(lines: Iterable[str]) -> list[LabelledCase]:
    """Every non-blank line of a label file (1-based line numbers in errors)."""
    return [parse_case(text, line=number) for number, text in enumerate(lines, start=1) if text.strip()]


def select_split(cases: Sequence[LabelledCase], split: str) -> list[LabelledCase]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return list(cases) if split == "all" else [case for case in cases if case.split == split]


# ---------------------------------------------------------------------------------------------
# Label mapping


def map_labels(ours: Sequence[tuple[int, int]], labelled: Sequence[LabelledSpan]) -> list[LabelledSpan | None]:
    """For each of our (start, end) sentences, the labelled span it overlaps most (the first
    on a tie); None when it overlaps none."""
    mapped: list[LabelledSpan | None] = []
    for start, end in ours:
        best, best_overlap = None, 0
        for span in labelled:
            overlap = min(end, span.end) - max(start, span.start)
            if overlap > best_overlap:
                best, best_overlap = span, overlap
        mapped.append(best)
    return mapped


# ---------------------------------------------------------------------------------------------
# Running the production path


def parse_completion(case: LabelledCase) -> Completion:
    completions = completion_from_openai(case.completion, provider=EVAL_PROVIDER)
    if not completions:
        raise _fail(case.line, "'completion' has no choices")
    return completions[0]


def case_other_candidates(case: LabelledCase, completion: Completion) -> tuple[str, ...]:
    """The texts of the case's candidates other than the kept `completion` (the first
    candidate with its text is the kept one; a twin of it stays, as in production)."""
    try:
        parsed = [c for body in case.candidates for c in completion_from_openai(body, provider=EVAL_PROVIDER)]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise _fail(case.line, f"'candidates' holds an unreadable chat.completion: {exc}") from None
    kept = next((c for c in parsed if c.text == completion.text), completion)
    return other_candidates(parsed, kept)


def evaluate(cases: Sequence[LabelledCase], *, thresholds: GateThresholds, judge: Judge | None = None) -> Evaluation:
    """Parse, align and gate every case as production does and pair each sentence with its label.
    With a `judge` (generation/verifier.py) each sentence also gets the verifier's P(True), as
    the generation task gives it with GATE_VERIFIER on."""
    sentences: list[EvaluatedSentence] = []
    description_bands: list[str] = []
    unlabelled = 0
    for case in cases:
        completion = parse_completion(case)
        tokens = completion.tokens
        try:
            alignment = align(completion.text, [t.text for t in tokens])
        except ValueError as exc:
            raise _fail(case.line, str(exc)) from None
        verdicts = judge(case.attributes, case.name, [s.text for s in alignment.sentences]) if judge else ()
        gate = gate_description(
            gate_input(
                completion=completion,
                alignment=alignment,
                attributes=case.attributes,
                product_name=case.name,
                prompt=case.prompt,
                verifier_p_true=verdicts,
                other_candidates=case_other_candidates(case, completion),
            ),
            thresholds=thresholds,
            publish_confident_now=False,
        )
        labels = map_labels([(s.start, s.end) for s in alignment.sentences], case.spans)
        bands = []
        for span, score, label in zip(alignment.sentences, gate.sentences, labels, strict=True):
            if label is None:
                unlabelled += 1
                continue
            bands.append(score.band)
            sentences.append(
                EvaluatedSentence(
                    case=case.id,
                    index=span.index,
                    text=span.text,
                    error=label.error,
                    kind=label.kind,
                    band=score.band,
                    risk=score.risk,
                    mean_logprob=score.mean_logprob,
                    reasons=tuple(score.reasons),
                    signals=score.signals,
                    group=case.group,
                    model=case.model,
                    span=case.spans.index(label),
                    distribution=case.distribution,
                )
            )
        if bands:
            description_bands.append(worst_band(bands))
    return Evaluation(
        sentences=sentences, description_bands=description_bands, unlabelled=unlabelled, thresholds=thresholds
    )


def worst_band(bands: Iterable[str]) -> str:
    """A description's band: flag if any sentence is flagged, else review if any is, else publish."""
    return max(bands, key=BANDS.index)


# ---------------------------------------------------------------------------------------------
# Writing completions as OpenAI chat.completion bodies


def completion_to_openai(completion: Completion, *, completion_id: str = "", created: int = 0) -> dict[str, Any]:
    """A chat.completion dict that completion_from_openai parses back to the same text, token
    texts, bytes and logprobs. An alternative whose text equals the chosen token's gets the
    chosen token's bytes (the only bytes known for a fragment of a multi-byte character)."""
    entries = []
    for token in completion.tokens:
        entries.append(
            {
                "token": token.text,
                "logprob": token.logprob,
                "bytes": list(token.bytes),
                "top_logprobs": [
                    {
                        "token": alt.text,
                        "logprob": alt.logprob,
                        "bytes": list(token.bytes if alt.text == token.text else alt.text.encode("utf-8")),
                    }
                    for alt in token.alternatives
                ],
            }
        )
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": completion.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "finish_reason": completion.finish_reason,
                "logprobs": {"content": entries} if completion.has_logprobs else None,
            }
        ],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
    }
