"""Reading a rally and signing up work without JavaScript (Tor Browser's safest level);
the home page's list of rallies needs none either."""

from __future__ import annotations

from tests.browser.test_languages_flow import _local_only


def test_the_list_a_rally_and_signing_up_work_without_javascript(
    browser, live_server, rallies, outbox
):
    rally_id = rallies(title="Rally for the prisoners")
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    context.route("**/*", _local_only)
    page = context.new_page()
    try:
        page.goto("/")
        page.get_by_role("link", name="Rally for the prisoners").click()
        page.get_by_role("heading", name="Rally for the prisoners").wait_for()
        page.get_by_label("Your name").fill("Ani")
        page.get_by_label("E-mail").fill("ani@example.org")
        page.get_by_role("button", name="Sign up").click()
        page.get_by_role("heading", name="Thank you for signing up").wait_for()
    finally:
        context.close()
    assert [m["To"] for m in outbox()] == ["ani@example.org"]
    assert rally_id
