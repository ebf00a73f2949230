"""HQ uploads a sign; an organizer finds it in the toolkit and downloads it, in Chromium."""

from __future__ import annotations

from pathlib import Path

from rallyhub.auth.models import Role
from rallyhub.toolkits.starter import sign_pdf
from tests.browser.test_rally_flow import _sign_in


def test_hq_uploads_and_an_organizer_downloads(page, users, campaigns, tmp_path):
    users(email="hq@example.org", role=Role.HQ)
    users(email="org@example.org")
    campaigns(slug="cecenia", hashtag="#GiustiziaPerLaCecenia")
    sign = tmp_path / "sign.pdf"
    sign.write_bytes(sign_pdf(["JUSTICE", "FOR", "CHECHNYA"]))

    _sign_in(page, "hq@example.org")
    page.get_by_role("link", name="Toolkits").click()
    page.get_by_role("link", name="New item").click()
    page.get_by_label("Title").fill("Sign for organizers")
    page.get_by_label("Kind").select_option("sign")
    page.get_by_label("Organizers only").check()
    page.get_by_label("File (PDF").set_input_files(str(sign))
    page.get_by_role("button", name="Save item").click()
    page.get_by_text("The toolkit item has been saved.").wait_for()
    page.get_by_role("button", name="Sign out").click()

    page.goto("/campaigns/cecenia/toolkit?language=")
    assert page.get_by_text("Sign for organizers").count() == 0

    _sign_in(page, "org@example.org")
    page.goto("/campaigns/cecenia/toolkit?language=")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "sign.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF-")
    assert page.foreign_requests == []
