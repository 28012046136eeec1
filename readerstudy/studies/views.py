"""The site's entry pages. There is one coordinator UI, the workspace (``/workspace/``), and one
reader UI, the worklist (``/reading/``); these views send each user to theirs and keep the older
study-page URLs working for bookmarks. The invitation page (``/invitations/<token>/``) is where an
invited reader joins a study."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import invitations, selectors


@login_required
def home(request):
    """Coordinators (and staff, who create studies) land in the workspace; everyone else on their
    reading worklist."""
    if request.user.is_staff or selectors.studies_coordinated_by(request.user).exists():
        return redirect("workspace:index")
    return redirect("reading-worklist")


@login_required
def study_detail(request, pk: int):
    """The former study page: now the study in the workspace (404 for anyone who does not
    coordinate it, as before)."""
    study = get_object_or_404(selectors.studies_coordinated_by(request.user), pk=pk)
    return redirect("workspace:study", pk=study.pk)


class NewAccountForm(forms.Form):
    password1 = forms.CharField(label="Password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="Password again", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            raise ValidationError("The two passwords differ.")
        return data


@never_cache
@sensitive_variables("token")
@sensitive_post_parameters("password1", "password2")
def invitation(request, token: str):
    """A reader's invitation link (``/invitations/<token>/``). GET only shows it (link previews
    and scanners must not spend it). Signed in as the invited username: POST accepts. Not signed
    in: sign in as that user (and come back), or, for a new person, choose a password: the account
    is created with the invited username and accepts at once. Anything else: a page that says why
    the link does not work."""
    found = invitations.invitation_find(token)
    if found is None:
        return render(request, "invitations/invitation.html", {"state": "unknown"}, status=404)
    refusal = invitations.invitation_refusal(found)
    if refusal:
        return render(request, "invitations/invitation.html",
                      {"state": found.state(), "message": refusal, "invitation": found}, status=410)
    context = {"state": "open", "invitation": found, "study_name": found.study.name,
               "login_url": f"{settings.LOGIN_URL}?{urlencode({'next': request.path})}"}
    user = request.user
    if user.is_authenticated:
        if user.username != found.username:
            context.update(state="other_account", signed_in_as=user.username)
            return render(request, "invitations/invitation.html", context, status=403)
        if request.method == "POST":
            try:
                invitations.invitation_accept(invitation=found, user=user)
            except ValidationError as exc:
                context.update(state="refused", message=" ".join(exc.messages))
                return render(request, "invitations/invitation.html", context, status=409)
            return redirect("reading-worklist")
        context["state"] = "confirm"
        return render(request, "invitations/invitation.html", context)
    form = NewAccountForm(request.POST if request.method == "POST" else None)
    context.update(form=form, password_help=password_validators_help_text_html())
    if request.method == "POST" and form.is_valid():
        try:
            new_user = invitations.invitation_accept_new_account(invitation=found, password=form.cleaned_data["password1"])
        except invitations.InvitationAccountExists as exc:
            context.update(state="exists", message=" ".join(exc.messages))
            return render(request, "invitations/invitation.html", context, status=409)
        except ValidationError as exc:  # the password validators, or the invitation just expired
            form.add_error(None, exc)
            return render(request, "invitations/invitation.html", context, status=400)
        login(request, new_user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("reading-worklist")
    return render(request, "invitations/invitation.html", context, status=400 if form.errors else 200)
