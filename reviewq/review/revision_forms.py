"""Input of the revision actions (revert, unpublish) on the review page's History tab."""

from django import forms


class RevisionActionForm(forms.Form):
    action = forms.ChoiceField(choices=[("revert", "Revert"), ("unpublish", "Unpublish")])
    version = forms.IntegerField(min_value=1, max_value=2**31 - 1)
    publish = forms.BooleanField(required=False, help_text="Publish the reverted copy at once (admins).")
    reason = forms.CharField(required=False, max_length=1000, strip=True)

    def clean(self):
        data = super().clean()
        if data.get("action") == "unpublish" and not data.get("reason"):
            self.add_error("reason", "Say why the description is unpublished.")
        return data
