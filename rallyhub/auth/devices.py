"""A coarse name for the browser a session was opened in ("Firefox on Android"), nothing finer.

Only the pair of words :func:`describe_device` returns is stored with a session: never the
User-Agent string (its versions and build numbers help fingerprint a person) and never an
address. The pair is put into words in the reader's language when the sessions page shows it.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# (code, marker in the User-Agent), most specific first: Edge, Opera and Samsung Internet say
# "Chrome" and "Safari" too, and Chrome says "Safari".
_BROWSERS = (
    ("edge", ("edg/", "edga/", "edgios/")),
    ("opera", ("opr/", "opera")),
    ("samsung", ("samsungbrowser/",)),
    ("firefox", ("firefox/", "fxios/")),
    ("chrome", ("chrome/", "crios/", "chromium/")),
    ("safari", ("safari/",)),
)
# Android says "Linux", iPhones say "like Mac OS X": the narrower systems come first.
_SYSTEMS = (
    ("android", ("android",)),
    ("ios", ("iphone", "ipad", "ipod")),
    ("chromeos", ("cros ",)),
    ("windows", ("windows",)),
    ("macos", ("macintosh", "mac os x")),
    ("linux", ("linux", "x11")),
)

BROWSER_NAMES = {
    "edge": "Edge",
    "opera": "Opera",
    "samsung": "Samsung Internet",
    "firefox": "Firefox",
    "chrome": "Chrome",
    "safari": "Safari",
}
SYSTEM_NAMES = {
    "android": "Android",
    "ios": _l("iPhone or iPad"),
    "chromeos": "ChromeOS",
    "windows": "Windows",
    "macos": "macOS",
    "linux": "Linux",
}


def _first(found: tuple[tuple[str, tuple[str, ...]], ...], agent: str) -> str:
    for code, markers in found:
        if any(marker in agent for marker in markers):
            return code
    return "other"


def describe_device(user_agent: str | None) -> str:
    """The browser and system of a User-Agent as two codes ("firefox android"), or "other"s."""
    agent = (user_agent or "")[:512].lower()
    return f"{_first(_BROWSERS, agent)} {_first(_SYSTEMS, agent)}"


def device_label(device: str) -> str:
    """A stored device description in words, in the reader's language."""
    browser_code, _sep, system_code = (device or "").partition(" ")
    browser = BROWSER_NAMES.get(browser_code)
    system = SYSTEM_NAMES.get(system_code)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    if browser:
        return browser
    if system:
        return _("A browser on %(system)s", system=system)
    return _("An unknown browser")
