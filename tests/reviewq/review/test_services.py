from datetime import timedelta

import pytest
from django.utils import timezone

from reviewq.core.models import AuditEvent, Description, DescriptionStatus, Sentence
from reviewq.core.transitions import ConflictError, InvalidTransition
from reviewq.gating.gate import EDITED_REASON, threshold_reasons
from reviewq.review.claims import (
    REVIEW_CLAIM_DURATION,
    ClaimHeld,
    description_review_claim,
    description_review_next,
    description_review_release,
    descriptions_review_release,
)
from reviewq.review.decisions import (
    ReviewIncomplete,
    description_approve,
    description_reject,
    descriptions_bulk_approve,
)
from reviewq.review.detail import review_detail
from reviewq.review.queue import QueueFilters, queue_next_candidates
from reviewq.review.sentences import (
    EditRefused,
    sentence_approve,
    sentence_edit,
    sentence_remove,
    sentence_reset,
    sentence_substitute,
)
from tests.factories import UserFactory
from tests.reviewq.review_data import BOTTLE_REASONS, make_bottle_description, make_review_description

pytestmark = pytest.mark.django_db
S = DescriptionStatus


def _snapshot(description):
    description.refresh_from_db()
    return (
        description.status,
        description.version,
        description.text,
        list(description.sentences.order_by("index").values_list("decision", "edited_text")),
        AuditEvent.objects.filter(description=description).count(),
    )


def test_claim_takes_a_free_description_and_audits_it_once():
    description = make_review_description()
    alice = UserFactory(username="alice")
    description_review_claim(description=description, reviewer=alice)
    description_review_claim(description=description, reviewer=alice)  # renewal
    description.refresh_from_db()
    assert description.review_claimed_by == alice
    assert description.review_claimed_until > timezone.now() + REVIEW_CLAIM_DURATION - timedelta(minutes=1)
    assert description.version == 1  # a claim is a lock, not content
    assert AuditEvent.objects.filter(description=description, action="review_claimed").count() == 1


def test_claim_held_by_another_is_refused_until_it_expires():
    description = make_review_description()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    description_review_claim(description=description, reviewer=alice)
    with pytest.raises(ClaimHeld) as err:
        description_review_claim(description=description, reviewer=bob)
    assert err.value.holder == alice
    Description.objects.filter(pk=description.pk).update(review_claimed_until=timezone.now() - timedelta(seconds=1))
    description_review_claim(description=description, reviewer=bob)
    description.refresh_from_db()
    assert description.review_claimed_by == bob


def test_claim_refuses_a_description_not_in_review():
    description = make_review_description(status=S.PUBLISHED)
    with pytest.raises(InvalidTransition):
        description_review_claim(description=description, reviewer=UserFactory())


def test_next_takes_the_riskiest_unclaimed_and_releases_the_current():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    riskiest = make_review_description(risk=0.99)
    second = make_review_description(risk=0.9)
    third = make_review_description(risk=0.5)
    description_review_claim(description=riskiest, reviewer=bob)
    got = description_review_next(reviewer=alice, candidates=queue_next_candidates(user=alice, filters=QueueFilters()))
    assert got.pk == second.pk
    got = description_review_next(
        reviewer=alice, candidates=queue_next_candidates(user=alice, filters=QueueFilters()), release=got
    )
    assert got.pk == third.pk
    second.refresh_from_db()
    assert second.review_claimed_by is None


def test_release_only_own_claims_unless_admin_permission():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    description = make_review_description()
    description_review_claim(description=description, reviewer=alice)
    assert descriptions_review_release(description_ids=[description.pk], reviewer=bob) == []
    assert description_review_release(description=description, reviewer=alice)
    description.refresh_from_db()
    assert description.review_claimed_by is None


def test_sentence_approve_bumps_version_and_audits():
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    sentence = sentence_approve(sentence=sentence, reviewer=reviewer, expected_version=1)
    description.refresh_from_db()
    assert (sentence.decision, sentence.decided_by, description.version) == ("approved", reviewer, 2)
    event = AuditEvent.objects.get(description=description, action="sentence_approved")
    assert (event.actor, event.sentence_index, event.after["decision"]) == (reviewer, 1, "approved")


def test_sentence_edit_keeps_original_text_whitespace_and_audit():
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    edited = sentence_edit(sentence=sentence, reviewer=reviewer, text="It holds 750 ml.\n", expected_version=1)
    assert edited.text == " It holds 900 ml."
    assert edited.edited_text == " It holds 750 ml."
    assert edited.decision == "edited"
    event = AuditEvent.objects.get(description=description, action="sentence_edited")
    assert event.before["text"] == " It holds 900 ml." and event.after["text"] == " It holds 750 ml."


def test_sentence_edit_refuses_empty_and_unchanged_text_and_changes_nothing():
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    sentence_edit(sentence=sentence, reviewer=reviewer, text="It holds 750 ml.", expected_version=1)
    before = _snapshot(description)
    for text in ("   ", "It holds 750 ml."):
        with pytest.raises(EditRefused):
            sentence_edit(sentence=sentence, reviewer=reviewer, text=text, expected_version=2)
    assert _snapshot(description) == before


def test_stale_version_is_a_conflict_carrying_the_newer_row_and_changes_nothing():
    description = make_review_description()
    alice = UserFactory(username="alice")
    sentence = description.sentences.get(index=1)
    sentence_edit(sentence=sentence, reviewer=alice, text="It holds 750 ml.", expected_version=1)
    before = _snapshot(description)
    with pytest.raises(ConflictError) as err:
        sentence_edit(sentence=sentence, reviewer=alice, text="It holds 500 ml.", expected_version=1)
    assert err.value.current.version == 2
    assert _snapshot(description) == before


def test_actions_refused_while_another_reviewer_holds_the_claim():
    description = make_review_description()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    description_review_claim(description=description, reviewer=alice)
    before = _snapshot(description)
    with pytest.raises(ClaimHeld):
        sentence_approve(sentence=description.sentences.get(index=1), reviewer=bob, expected_version=1)
    with pytest.raises(ClaimHeld):
        description_approve(description=description, reviewer=bob, expected_version=1, approve_remaining=True)
    assert _snapshot(description) == before


def test_substitute_replaces_one_token_keeps_space_and_can_be_undone():
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    token = sentence.tokens.get(text=" 900")
    sentence = sentence_substitute(
        sentence=sentence, reviewer=reviewer, position=token.position, alternative=" 750", expected_version=1
    )
    assert (sentence.decision, sentence.edited_text, sentence.text) == (
        "edited",
        " It holds 750 ml.",
        " It holds 900 ml.",
    )
    event = AuditEvent.objects.get(action="sentence_substituted")
    assert event.after["from"] == " 900" and event.after["to"] == " 750"
    assert event.after["substitutions"] == {str(token.position): " 750"}
    # The review page still shows the tokens, with the substituted one marked.
    view = review_detail(description_id=description.pk, user=reviewer).sentences[1]
    shown = [(t.text, t.original) for t in view.tokens]
    assert (" 750", " 900") in shown and not view.hand_edited
    # Choosing the generated token again undoes the substitution.
    sentence = sentence_substitute(
        sentence=sentence, reviewer=reviewer, position=token.position, alternative=" 900", expected_version=2
    )
    assert (sentence.decision, sentence.edited_text) == ("", "")


def test_substitute_stacks_within_a_sentence():
    description = make_review_description(
        sentences=[
            ("flag", [("Holds", -0.1), (" 900", -2.0, [[" 750", -0.5]]), (" ml", -1.5, [[" l", -0.9]]), (".", -0.1)])
        ]
    )
    reviewer = UserFactory()
    sentence = description.sentences.get()
    sentence = sentence_substitute(
        sentence=sentence, reviewer=reviewer, position=1, alternative=" 750", expected_version=1
    )
    sentence = sentence_substitute(
        sentence=sentence, reviewer=reviewer, position=2, alternative=" l", expected_version=2
    )
    assert sentence.edited_text == "Holds 750 l."


def test_substitute_refuses_unoffered_alternative_and_hand_edited_sentence():
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    token = sentence.tokens.get(text=" 900")
    before = _snapshot(description)
    with pytest.raises(EditRefused):
        sentence_substitute(
            sentence=sentence, reviewer=reviewer, position=token.position, alternative="<script>", expected_version=1
        )
    assert _snapshot(description) == before
    sentence_edit(sentence=sentence, reviewer=reviewer, text="Holds a lot.", expected_version=1)
    with pytest.raises(EditRefused):
        sentence_substitute(
            sentence=sentence, reviewer=reviewer, position=token.position, alternative=" 750", expected_version=2
        )


def test_remove_and_reset():
    description = make_review_description()
    reviewer = UserFactory()
    sentence = sentence_remove(sentence=description.sentences.get(index=1), reviewer=reviewer, expected_version=1)
    assert sentence.decision == "rejected"
    sentence = sentence_reset(sentence=sentence, reviewer=reviewer, expected_version=2)
    assert (sentence.decision, sentence.decided_at) == ("", None)


def test_description_approve_refuses_while_review_sentences_are_undecided():
    description = make_review_description()
    reviewer = UserFactory()
    before = _snapshot(description)
    with pytest.raises(ReviewIncomplete) as err:
        description_approve(description=description, reviewer=reviewer, expected_version=1)
    assert err.value.pending == [1, 2]
    assert _snapshot(description) == before


def test_description_approve_publishes_current_text_without_removed_sentences():
    description = make_review_description()
    reviewer = UserFactory()
    sentence_edit(
        sentence=description.sentences.get(index=1), reviewer=reviewer, text="It holds 750 ml.", expected_version=1
    )
    sentence_remove(sentence=description.sentences.get(index=2), reviewer=reviewer, expected_version=2)
    published = description_approve(description=description, reviewer=reviewer, expected_version=3)
    assert published.status == S.PUBLISHED and published.published_at is not None
    assert published.text == "This bottle keeps drinks cold. It holds 750 ml."
    assert published.review_claimed_by is None
    event = AuditEvent.objects.get(description=description, action="review_approved")
    assert event.actor == reviewer and event.after["text"] == published.text


def test_description_approve_remaining_approves_undecided_sentences():
    description = make_review_description()
    reviewer = UserFactory()
    published = description_approve(
        description=description, reviewer=reviewer, expected_version=1, approve_remaining=True
    )
    assert published.status == S.PUBLISHED
    assert set(Sentence.objects.filter(description=description).values_list("decision", flat=True)) == {"", "approved"}
    assert Sentence.objects.get(description=description, index=0).decision == ""  # publish band stays undecided


def test_description_reject_needs_a_reason():
    description = make_review_description()
    reviewer = UserFactory()
    before = _snapshot(description)
    with pytest.raises(EditRefused):
        description_reject(description=description, reviewer=reviewer, expected_version=1, reason="  ")
    assert _snapshot(description) == before
    rejected = description_reject(description=description, reviewer=reviewer, expected_version=1, reason="Wrong volume")
    assert (rejected.status, rejected.rejection_reason) == (S.REJECTED, "Wrong volume")
    assert AuditEvent.objects.get(action="review_rejected").note == "Wrong volume"


def test_bulk_approve_publishes_only_confident_unchanged_unheld_descriptions():
    reviewer, other = UserFactory(username="rev"), UserFactory(username="other")
    confident = make_review_description(sentences=[("publish", [("Fine", -0.1), (".", -0.1)])])
    decided = make_review_description()
    sentence_approve(sentence=decided.sentences.get(index=1), reviewer=reviewer, expected_version=1)
    sentence_remove(sentence=decided.sentences.get(index=2), reviewer=reviewer, expected_version=2)
    pending = make_review_description()
    stale = make_review_description(sentences=[("publish", [("Ok", -0.1)])])
    held = make_review_description(sentences=[("publish", [("Held", -0.1)])])
    description_review_claim(description=held, reviewer=other)
    result = descriptions_bulk_approve(
        versions={confident.pk: 1, decided.pk: 3, pending.pk: 1, stale.pk: 0, held.pk: 1}, reviewer=reviewer
    )
    assert result.approved == sorted([confident.pk, decided.pk])
    assert set(result.skipped) == {pending.pk, stale.pk, held.pk}
    decided.refresh_from_db()
    assert decided.text == "This bottle keeps drinks cold. It holds 900 ml." and decided.status == S.PUBLISHED
    for row in (pending, stale, held):
        row.refresh_from_db()
        assert row.status == S.REVIEW
    assert AuditEvent.objects.filter(action="review_approved").count() == 2


def test_substitute_rescores_the_sentence_from_the_chosen_token_and_audits_it():
    description = make_bottle_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    generated = (sentence.mean_logprob, sentence.band, sentence.reasons)
    token = sentence.tokens.get(text=" 900")
    sentence = sentence_substitute(
        sentence=sentence, reviewer=reviewer, position=token.position, alternative=" 750", expected_version=1
    )
    logprobs = list(sentence.tokens.order_by("position").values_list("logprob", flat=True))
    logprobs[logprobs.index(-2.9)] = -0.4  # the model's probability for " 750" at that position
    assert sentence.mean_logprob == pytest.approx(sum(logprobs) / len(logprobs), abs=1e-6)
    assert sentence.band != "flag" and not any("900" in reason for reason in sentence.reasons)
    assert sentence.generated_score["reasons"] == generated[2]
    event = AuditEvent.objects.get(action="sentence_substituted")
    assert event.before["reasons"] == generated[2] and event.after["reasons"] == sentence.reasons
    assert (event.before["band"], event.after["band"]) == ("flag", sentence.band)
    shown = review_detail(description_id=description.pk, user=reviewer).sentences[1]
    assert shown.reasons == sentence.reasons + threshold_reasons(sentence.signals)

    # Undone: scored from the generated token again.
    sentence = sentence_substitute(
        sentence=sentence, reviewer=reviewer, position=token.position, alternative=" 900", expected_version=2
    )
    assert sentence.mean_logprob == pytest.approx(generated[0], abs=1e-6)
    assert sentence.band == "flag" and sentence.generated_score is None
    assert any("'900 ml'" in reason for reason in sentence.reasons)


def test_edit_regates_the_text_and_marks_the_logprob_signals_as_not_applying():
    description = make_bottle_description()
    reviewer = UserFactory()
    sentence = sentence_edit(
        sentence=description.sentences.get(index=1),
        reviewer=reviewer,
        text="It holds 750 ml and fits most cup holders.",
        expected_version=1,
    )
    assert sentence.reasons == [EDITED_REASON]
    assert (sentence.mean_logprob, sentence.band, sentence.hard_flag) == (None, "review", False)
    assert sentence.decision == "edited"  # still decided by the reviewer; the band does not verify it
    event = AuditEvent.objects.get(action="sentence_edited")
    assert event.before["reasons"] == BOTTLE_REASONS[1] and event.after["reasons"] == [EDITED_REASON]
    shown = review_detail(description_id=description.pk, user=reviewer).sentences[1]
    assert shown.reasons == [EDITED_REASON]

    sentence = sentence_edit(sentence=sentence, reviewer=reviewer, text="It holds 2 l.", expected_version=2)
    assert sentence.band == "flag" and sentence.reasons[0] == EDITED_REASON
    assert any("'2 l'" in reason for reason in sentence.reasons)


def test_approve_and_remove_keep_the_scores_of_an_unchanged_text():
    description = make_bottle_description()
    reviewer = UserFactory()
    before = list(description.sentences.order_by("index").values_list("band", "risk", "reasons", "signals"))
    sentence_approve(sentence=description.sentences.get(index=1), reviewer=reviewer, expected_version=1)
    sentence_remove(sentence=description.sentences.get(index=2), reviewer=reviewer, expected_version=2)
    assert list(description.sentences.order_by("index").values_list("band", "risk", "reasons", "signals")) == before
