"""Forms of the dashboard app's pages."""

from django import forms
from django.contrib.auth import get_user_model

from reviewq.core.roles import ROLES

ROLE_CHOICES = [(role, role.capitalize()) for role in ROLES]


class UserInviteForm(forms.Form):
    username = forms.CharField(max_length=150, validators=[get_user_model().username_validator])
    email = forms.EmailField(required=False, max_length=254)
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class UserUpdateForm(forms.Form):
    action = forms.ChoiceField(choices=[("role", "Set role"), ("deactivate", "Deactivate"), ("activate", "Reactivate")])
    role = forms.ChoiceField(choices=ROLE_CHOICES, required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "role" and not cleaned.get("role"):
            self.add_error("role", "Pick a role.")
        return cleaned
