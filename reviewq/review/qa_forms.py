"""Request input of the QA queue and the QA review page."""

from typing import Any

from django import forms

from reviewq.core.forms import FlagField
from reviewq.core.models import QAVerdictLabel


class QAQueueForm(forms.Form):
    """?mine=1: only the samples assigned to me."""

    mine = FlagField()


class QAVerdictsForm(forms.Form):
    """One ok/wrong choice per sentence, named s<index>; cleans to {index: label}."""

    def __init__(self, data: Any = None, *, indexes: list[int]) -> None:
        super().__init__(data)
        self.indexes = indexes
        for index in indexes:
            self.fields[f"s{index}"] = forms.ChoiceField(
                choices=QAVerdictLabel.choices,
                widget=forms.RadioSelect,
                label=f"Sentence {index + 1}",
                error_messages={"required": f"Sentence {index + 1} needs a verdict."},
            )

    def verdicts(self) -> dict[int, str]:
        return {index: self.cleaned_data[f"s{index}"] for index in self.indexes}
