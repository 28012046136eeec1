"""The reading page under the Content-Security-Policy: the header is sent, the viewer bundle (its
WebAssembly codecs included) draws the image, and the browser reports no violation."""

from __future__ import annotations

import re

import pytest

from readerstudy.reading.models import Session
from tests.browser.test_reading_page import PASSWORD, page, reading_study, wait_for_image  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reading_page_draws_the_image_under_the_csp(page, live_server, reading_study):  # noqa: F811
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    reader = reading_study["reader"]
    first = Session.objects.filter(reader=reader).order_by("index").first().reads.order_by("position").first()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "reader1")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(rf"{re.escape(live_server.url)}/(reading/|workspace/)?$"))  # "/" sends each user to their UI
    response = page.goto(f"{live_server.url}/reading/reads/{first.public_id}/")
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "'unsafe-eval'" not in policy
    wait_for_image(page)  # the image is drawn: non-blank canvas with more than 5 grey levels
    assert not violations, violations
