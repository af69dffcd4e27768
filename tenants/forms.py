from __future__ import annotations

from typing import Any

from django import forms

from tenants.models import Role, TokenScope


class SignInForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))


class MemberAddForm(forms.Form):
    email = forms.EmailField()
    full_name = forms.CharField(max_length=200, required=False, label="Name")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANALYST)

    def __init__(self, *args: Any, can_own: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        if not can_own and isinstance(role, forms.ChoiceField):
            # Only owners hand out the owner role: don't offer what would be refused.
            role.choices = [c for c in Role.choices if c[0] != Role.OWNER]


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'BI export'.")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ)
    expires_at = forms.DateTimeField(
        required=False, label="Expires", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class TenantCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Company name")
    slug = forms.CharField(
        max_length=40,
        label="Address",
        help_text="Lowercase letters, digits and hyphens: becomes <address>.your-domain.",
    )
