"""Request input of the queue and review pages: every GET/POST value, bounded."""

from typing import Any

from django import forms

from reviewq.core.forms import CountField, FlagField, IdField, IdListField, TextareaField
from reviewq.core.models import ErrorCategory, SavedFilter, SentenceBand
from reviewq.review.assignments import PER_ITEM_MAX, assignable_reviewers
from reviewq.review.queue import QUEUE_PAGE_SIZE, SEARCH_MAX_CHARS, SORT_LABELS, QueueCursor, QueueFilters

SENTENCE_TEXT_MAX_CHARS = 2000
REJECT_REASON_MAX_CHARS = 1000
FILTER_REASON_MAX_CHARS = 100
ALTERNATIVE_MAX_CHARS = 255  # Token.text
COMMENT_MAX_CHARS = 2000
BULK_MAX = QUEUE_PAGE_SIZE * 4
REVIEWERS_MAX = 50


def _choices(*values: str) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


class QueueFilterForm(forms.Form):
    """The queue filters every queue and review request carries along."""

    catalog = IdField(required=False)
    band = forms.ChoiceField(choices=[("", "any"), *SentenceBand.choices], required=False)
    reason = forms.CharField(max_length=FILTER_REASON_MAX_CHARS, required=False)
    mine = FlagField(on=("1", "on", "true"))
    assigned = FlagField(on=("1", "on", "true"))
    run = IdField(required=False)  # a run's drafts (the run page links here)
    q = forms.CharField(max_length=SEARCH_MAX_CHARS, required=False)  # SKU or product name
    sort = forms.ChoiceField(choices=[("", "default"), *SORT_LABELS.items()], required=False)

    def filters(self) -> QueueFilters:
        data = self.cleaned_data
        return QueueFilters(
            catalog_id=data["catalog"],
            band=data["band"],
            reason=data["reason"],
            mine=data["mine"],
            assigned=data["assigned"],
            run_id=data["run"],
            search=data["q"],
            sort=data["sort"] or "risk",
        )


class QueuePageForm(QueueFilterForm):
    fragment = forms.ChoiceField(choices=_choices("", "counts"), required=False)
    counts = FlagField()
    after = forms.CharField(max_length=400, required=False)  # a catalog name of up to 200 characters, JSON-quoted

    def clean(self) -> dict[str, Any]:
        super().clean()
        value = self.cleaned_data.get("after")
        if value and "sort" in self.cleaned_data:
            cursor = QueueCursor.parse(value, sort=self.cleaned_data["sort"] or "risk")
            if cursor is None:
                self.add_error("after", forms.ValidationError("Not a queue position.", code="invalid"))
            else:
                self.cleaned_data["after"] = cursor
        else:
            self.cleaned_data["after"] = None
        return self.cleaned_data


class SavedFilterForm(QueueFilterForm):
    """Save the filters it carries under a name (the queue page's "Save these filters")."""

    name = forms.CharField(max_length=SavedFilter._meta.get_field("name").max_length, strip=True)


class QueueNextForm(QueueFilterForm):
    current = IdField(required=False)  # the description the reviewer leaves, to release


class QueueOpenForm(QueueFilterForm):
    description = IdField()  # the queue row whose Open button was pressed


class QueueBulkForm(QueueFilterForm):
    """Step 1 (no confirm) asks; step 2 (confirm=1) acts on the versions shown in step 1, sent
    as version-<id> for each selected id."""

    action = forms.ChoiceField(choices=_choices("", "approve", "release"), required=False)
    selected = IdListField(max_count=BULK_MAX)
    confirm = FlagField()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        versions: dict[int, int] = {}
        version = CountField(min_value=1, required=False)
        for pk in data.get("selected") or []:
            try:
                value = version.clean(self.data.get(f"version-{pk}", ""))
            except forms.ValidationError as error:
                self.add_error(None, forms.ValidationError(f"version-{pk}: {' '.join(error.messages)}"))
                continue
            if value is not None:
                versions[pk] = value
        data["versions"] = versions
        return data


class QueueAssignForm(QueueFilterForm):
    """The queue's Assign buttons: `assign` says what to assign (the selected rows, everything
    the filter matches, the filter's whole catalog) or to unassign the selected rows (from the
    chosen reviewers, or from everyone when none is chosen). Step 1 asks, confirm=1 acts."""

    assign = forms.ChoiceField(choices=_choices("selected", "filter", "catalog", "unassign"))
    selected = IdListField(max_count=BULK_MAX)
    reviewers = IdListField(max_count=REVIEWERS_MAX, required=False)
    per_item = forms.IntegerField(min_value=1, max_value=PER_ITEM_MAX, required=False)
    confirm = FlagField()

    def clean_reviewers(self) -> list:
        ids = self.cleaned_data["reviewers"]
        users = list(assignable_reviewers().filter(pk__in=ids))
        if len(users) != len(ids):
            raise forms.ValidationError("Not a reviewer: choose from the list.", code="invalid_choice")
        return users

    def clean_per_item(self) -> int:
        return self.cleaned_data["per_item"] or 1

    def problem(self) -> str:
        """What keeps a valid request from being done (said on the queue page, not a 400)."""
        data = self.cleaned_data
        if data["assign"] in ("selected", "unassign") and not data["selected"]:
            return "Select at least one description."
        if data["assign"] == "catalog" and not data["catalog"]:
            return "Choose a catalog in the filters first."
        if data["assign"] != "unassign" and not data["reviewers"]:
            return "Choose at least one reviewer to assign to."
        if data["assign"] != "unassign" and data["per_item"] > len(data["reviewers"]):
            return f"{data['per_item']} reviewers per item needs at least {data['per_item']} reviewers chosen."
        return ""


class ErrorCategoryField(forms.ModelChoiceField):
    """An active ErrorCategory by its key (what the page's select and keys send); empty: none."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=ErrorCategory.objects.filter(active=True), to_field_name="key", required=False, **kwargs
        )


class ReviewPageForm(QueueFilterForm):
    fragment = forms.ChoiceField(choices=_choices("", "sentence", "status"), required=False)
    tab = forms.ChoiceField(choices=_choices("", "text", "history"), required=False)
    edit = CountField(required=False)  # the sentence index shown with its edit form
    version = CountField(min_value=1, required=False)  # the version the page showed
    index = CountField(required=False)  # the sentence a "sentence" fragment shows

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # ?from=<id>: the item just decided, linked back to ("from" is a keyword in Python).
        self.fields["from"] = IdField(required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("fragment") == "sentence" and data.get("index") is None:
            self.add_error("index", "The sentence fragment needs an index.")
        return data


class SentenceActionForm(QueueFilterForm):
    action = forms.ChoiceField(
        choices=_choices("approve", "edit", "substitute", "remove", "reset", "regenerate", "categorise")
    )
    version = CountField(min_value=1)
    category = ErrorCategoryField()  # why an edit or removal was needed
    # Not stripped here: sentence_edit keeps the sentence's own spacing and refuses empty text.
    text = forms.CharField(max_length=SENTENCE_TEXT_MAX_CHARS, required=False, strip=False)
    position = CountField(required=False)
    alternative = forms.CharField(max_length=ALTERNATIVE_MAX_CHARS, required=False, strip=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("action") == "substitute" and data.get("position") is None and "position" not in self.errors:
            self.add_error("position", "Missing token position.")
        return data


# Decisions that act on the claim, not the text: no version needed.
CLAIM_ACTIONS = ("release", "claim", "take_over")


class DecisionForm(QueueFilterForm):
    action = forms.ChoiceField(choices=_choices("approve", "reject", "regenerate", *CLAIM_ACTIONS))
    version = CountField(min_value=1, required=False)
    # Not "reason", the queue filter this form carries along. description_reject strips it and
    # refuses an empty one, with its own message.
    rejection_reason = forms.CharField(max_length=REJECT_REASON_MAX_CHARS, required=False, strip=False)
    rejection_category = ErrorCategoryField()
    approve_remaining = FlagField()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if (
            data.get("action") not in (None, *CLAIM_ACTIONS)
            and data.get("version") is None
            and "version" not in self.errors
        ):
            self.add_error("version", "Missing version.")
        return data


class CommentForm(QueueFilterForm):
    text = TextareaField(
        max_length=COMMENT_MAX_CHARS,
        error_messages={
            "required": "Write the comment first.",
            "max_length": f"Keep a comment to {COMMENT_MAX_CHARS} characters.",
        },
    )
