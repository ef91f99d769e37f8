#!/usr/bin/python3
"""web-flow.py: drive Magenta's web page in headless Chromium (Selenium).

usage: web-flow.py [--silent-refresh SECONDS | --mail MAIL_DIR] URL SPKI_HASH SHOT_DIR USERNAME EMAIL

URL is the page (https://localhost:PORT/), SPKI_HASH the base64 SHA-256 of
the server certificate's public key: Chromium accepts that certificate,
and no other bad one.  The steps, each with a screenshot NN-step.png in
SHOT_DIR: sign up with a bad password (its field error shows), sign up,
sign in with the username (keyboard only), see the profile, reload (the
refresh cookie signs in again), edit the display name, sign out, sign in
with the email, change the password (a wrong current one first), sign in
with the new one, delete the account.  Chromium reaches nothing but 127.0.0.1: every other
host name resolves to nothing and any other address goes to a dead proxy;
a step checks that.  Prints one line per step; exit 0 when all passed,
1 at the first failure (with the page's text), 2 on bad usage.

With --silent-refresh: sign in as USERNAME (who exists), then wait up to
SECONDS for the page to renew its access token on its own timer.

With --mail: the mails' links, read from MAIL_DIR (the SMTP sink's
NNNNNN.eml files, tests/tools/smtp-sink.py): sign up, sign in (the profile
says unconfirmed), send the confirmation again until the limit's 429
shows, open the newest confirmation link (the address confirmed, the token
gone from the address bar), sign in (the profile says confirmed), sign
out, "Forgot password?" (an unknown address and EMAIL get the same
answer), open the reset link, a bad new password first (its field error
shows), then a good one, and sign in with it.
"""

import glob
import re

import os
import sys
import time
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

TIMEOUT = 20.0
PASSWORD = "plum orchard lantern 42"
NEW_PASSWORD = "quiet harbour violin 77"
NEW_DISPLAY = "Alice in the Browser"


class Failed(Exception):
    pass


def mails(mail_dir, rcpt, subject):
    """The links of the messages to rcpt with this subject, oldest first."""
    links = []
    for path in sorted(glob.glob(os.path.join(mail_dir, "*.eml"))):
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        if "X-Sink-Rcpt-To: " + rcpt in head and "Subject: " + subject in head:
            m = re.search(r"https?://\S+\?token=[A-Za-z0-9_-]+", text)
            if m:
                links.append(m.group(0))
    return links


def browser(spki):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=820,760",
        "--lang=en-US",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--metrics-recording-only",
        "--safebrowsing-disable-auto-update",
        "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,"
        "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
        # nothing but the loopback: names other than localhost resolve to
        # nothing, and whatever still goes out meets a dead proxy (the
        # loopback itself bypasses proxies)
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        # the stack's certificate (a private test CA): this key only
        "--ignore-certificate-errors-spki-list=" + spki,
    ):
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def wait(what, cond, timeout=TIMEOUT):
    """Poll cond() until it is true; Failed after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = cond()
            if v:
                return v
        except WebDriverException:
            pass
        if time.monotonic() > deadline:
            raise Failed("timed out waiting for " + what)
        time.sleep(0.1)


class Flow:
    def __init__(self, d, url, shots):
        self.d, self.url, self.shots, self.n = d, url, shots, 0

    def el(self, id_):
        return self.d.find_element(By.ID, id_)

    def visible(self, view):
        return wait("view " + view, lambda: self.el("view-" + view).is_displayed())

    def text(self, id_):
        return self.el(id_).text.strip()

    def fill(self, id_, value):
        e = self.el(id_)
        e.clear()
        e.send_keys(value)
        return e

    def shot(self, name):
        self.n += 1
        path = os.path.join(self.shots, "%02d-%s.png" % (self.n, name))
        self.d.save_screenshot(path)
        print("ok %d %s (%s)" % (self.n, name, path), flush=True)

    def storage(self):
        return self.d.execute_script(
            "return [localStorage.length, sessionStorage.length, document.cookie]")

    def open_details(self, form_id):
        """Open the <details> that holds form_id (keyboard: its summary)."""
        summary = self.el(form_id).find_element(By.XPATH, "./ancestor::details/summary")
        if not self.el(form_id).is_displayed():
            summary.send_keys(Keys.SPACE)
        wait(form_id + " open", lambda: self.el(form_id).is_displayed())

    def sign_in(self, ident, want_user, password=PASSWORD):
        """Sign in with the keyboard only; retried while the account has
        not reached the auth service yet (the event is on its way)."""

        def attempt():
            if self.el("view-profile").is_displayed():
                return True
            self.fill("si-ident", ident)
            pw = self.fill("si-password", password)
            pw.send_keys(Keys.RETURN)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if self.el("view-profile").is_displayed():
                    return True
                if self.text("si-form-err"):
                    return False
                time.sleep(0.1)
            return False

        wait("sign-in as " + ident, attempt)
        wait("the profile of " + want_user, lambda: self.text("p-username") == want_user)

    def run(self, username, email):
        d = self.d
        d.get(self.url)
        self.visible("signin")
        # only this origin's own files run: no external script, no inline
        if d.execute_script("return document.querySelectorAll('script:not([src])').length") != 0:
            raise Failed("inline script on the page")

        # 1. sign up with a bad password: the API's error by its field
        self.el("nav-signup").click()
        self.visible("signup")
        self.fill("su-username", username)
        self.fill("su-email", email)
        self.fill("su-display", "Alice Web")
        self.fill("su-password", "short")
        self.fill("su-confirm", "short")
        self.el("su-submit").click()
        err = wait("the password's error", lambda: self.text("su-password-err"))
        if "12" not in err:
            raise Failed("unexpected password error: " + err)
        pw = self.el("su-password")
        if pw.get_attribute("aria-invalid") != "true":
            raise Failed("the password field is not marked invalid")
        if "su-password-err" not in pw.get_attribute("aria-describedby"):
            raise Failed("the error is not tied to the field")
        if d.switch_to.active_element != pw:
            raise Failed("focus did not go to the field in error")
        if self.text("su-username-err") or self.text("su-email-err"):
            raise Failed("errors shown on fields that were fine")
        self.shot("signup-bad-password")

        # 2. sign up correctly
        self.fill("su-password", PASSWORD)
        self.fill("su-confirm", PASSWORD)
        self.el("su-submit").click()
        self.visible("signin")
        wait("the sign-up message", lambda: "created" in self.text("status"))
        if self.el("si-ident").get_attribute("value") != username:
            raise Failed("the username is not carried to sign-in")
        self.shot("signed-up")

        # 3. sign in with the username, keyboard only; 4. the profile
        self.sign_in(username, username)
        wait("the email", lambda: self.text("p-email") == email)
        wait("the display name", lambda: self.text("p-display") == "Alice Web")
        # the access token is in memory only; the refresh cookie is HttpOnly
        st = self.storage()
        if st != [0, 0, ""]:
            raise Failed("tokens stored where scripts can read them: %r" % (st,))
        self.shot("profile")

        # 5. a reload signs in again through the refresh cookie
        d.refresh()
        self.visible("profile")
        wait("the profile after reload", lambda: self.text("p-username") == username)
        self.shot("profile-after-reload")

        # 6. edit the display name (PATCH /api/registration/users/me)
        self.open_details("form-display")
        self.fill("pd-display", NEW_DISPLAY)
        self.el("pd-submit").click()
        wait("the new display name", lambda: self.text("p-display") == NEW_DISPLAY)
        self.shot("display-name")

        # 7. sign out: and a reload stays signed out (the cookie is gone)
        self.el("nav-signout").click()
        self.visible("signin")
        wait("the signed-out message", lambda: "Signed out" in self.text("status"))
        d.refresh()
        self.visible("signin")
        self.shot("signed-out")

        # 8. sign in again with the email
        self.sign_in(email, username)
        self.shot("signed-in-with-email")

        # 9. change the password: a wrong current one is that field's error
        self.open_details("form-password")
        self.fill("pp-current", "not my password at all")
        self.fill("pp-new", NEW_PASSWORD)
        self.fill("pp-confirm", NEW_PASSWORD)
        self.el("pp-submit").click()
        err = wait("the current password's error", lambda: self.text("pp-current-err"))
        if "wrong" not in err:
            raise Failed("unexpected current-password error: " + err)
        self.shot("password-wrong-current")
        self.fill("pp-current", PASSWORD)
        self.el("pp-submit").click()
        # every session ends: signed out, asked for the new password
        self.visible("signin")
        wait("the password-changed message", lambda: "Password changed" in self.text("status"))
        self.shot("password-changed")

        # 10. the new password signs in (once the change reached the auth
        # service); 11. the account deleted from the profile
        self.sign_in(username, username, NEW_PASSWORD)
        self.shot("signed-in-new-password")
        self.open_details("form-delete")
        self.fill("px-password", NEW_PASSWORD)
        self.el("px-submit").click()
        self.visible("signin")
        wait("the deletion message", lambda: "deleted" in self.text("status"))
        self.shot("account-deleted")

        # 9. the browser reaches nothing outside 127.0.0.1
        try:
            d.get("https://example.com/")
        except WebDriverException as e:
            # chromedriver reports the failed navigation itself
            if "ERR_" not in str(e):
                raise
        body = d.find_element(By.TAG_NAME, "body").text
        if "Example Domain" in body or "ERR_" not in d.page_source:
            raise Failed("an outside host was reached: " + body[:200])
        print("ok outside hosts are unreachable", flush=True)


    def mail_link(self, email, subject, count=1):
        """The newest link of subject's mails to email, once count came."""
        links = wait("%d mail(s) '%s'" % (count, subject),
                     lambda: (lambda l: l if len(l) >= count else None)(
                         mails(self.mail_dir, email, subject)))
        link = links[-1]
        base = urlsplit(self.url)
        got = urlsplit(link)
        # the link leads to this page's origin, over HTTPS
        if (got.scheme, got.netloc) != (base.scheme, base.netloc):
            raise Failed("the mail's link is not on the page's origin: " + link)
        return link, len(links)

    def token_gone(self):
        """The address bar holds no token any more (history.replaceState)."""
        wait("the token off the address bar", lambda: "token" not in self.d.current_url)

    def mail_flow(self, username, email):
        d = self.d
        d.get(self.url)
        self.visible("signin")

        # 1. sign up, 2. sign in: not confirmed yet, the resend button shows
        self.el("nav-signup").click()
        self.visible("signup")
        self.fill("su-username", username)
        self.fill("su-email", email)
        self.fill("su-password", PASSWORD)
        self.fill("su-confirm", PASSWORD)
        self.el("su-submit").click()
        wait("the sign-up message", lambda: "created" in self.text("status"))
        self.sign_in(username, username)
        wait("unconfirmed", lambda: self.text("p-confirmed") == "No, not yet")
        if not self.el("p-resend").is_displayed():
            raise Failed("no resend button for an unconfirmed address")
        self.shot("mail-unconfirmed")

        # 3. send the confirmation again, keyboard only, until the limit
        # (mail_resend_limit) answers 429: shown by the button
        sent = 0
        for _ in range(6):
            self.el("p-resend").send_keys(Keys.SPACE)
            msg = wait("the resend's answer",
                       lambda: self.el("p-resend").is_enabled() and self.text("p-resend-msg"))
            if "Too many" in msg:
                break
            if "on its way" not in msg:
                raise Failed("unexpected resend answer: " + msg)
            sent += 1
            # the next answer must be a new one
            d.execute_script("document.getElementById('p-resend-msg').textContent = ''")
        else:
            raise Failed("the resend was never limited")
        if sent < 1:
            raise Failed("no resend was accepted")
        self.shot("mail-resend-limited")

        # 4. the newest confirmation mail's link, in a fresh load of the page
        link, n = self.mail_link(email, "Confirm your email address", 1 + sent)
        if "/confirm-email?token=" not in link:
            raise Failed("not a confirmation link: " + link)
        d.get(link)
        self.visible("confirm")
        wait("the address confirmed", lambda: "is confirmed" in self.text("cf-result"))
        self.token_gone()
        self.shot("mail-confirmed")

        # 5. the link to sign in; the profile says confirmed, no resend
        self.el("cf-signin").click()
        self.visible("signin")
        self.sign_in(username, username)
        wait("confirmed", lambda: self.text("p-confirmed") == "Yes")
        if self.el("p-resend").is_displayed():
            raise Failed("the resend button shows for a confirmed address")
        self.shot("mail-profile-confirmed")

        # 6. sign out; "Forgot password?": the same answer for an unknown
        # address and for this one
        self.el("nav-signout").click()
        self.visible("signin")
        self.el("si-forgot").click()
        self.visible("forgot")
        self.fill("fo-email", "nobody.here@example.com")
        self.el("fo-submit").click()
        unknown = wait("the forgot answer", lambda: self.text("status"))
        if "on its way" not in unknown:
            raise Failed("unexpected forgot answer: " + unknown)
        d.execute_script("document.getElementById('status').textContent = ''")
        self.fill("fo-email", email).send_keys(Keys.RETURN)
        known = wait("the forgot answer", lambda: self.text("status"))
        if known != unknown:
            raise Failed("the forgot answers differ: %r / %r" % (unknown, known))
        self.shot("mail-forgot")

        # 7. the reset mail's link: a bad password first (its field error)
        link, _ = self.mail_link(email, "Reset your password")
        if "/reset-password?token=" not in link:
            raise Failed("not a reset link: " + link)
        d.get(link)
        self.visible("reset")
        self.token_gone()
        self.fill("rs-new", "short")
        self.fill("rs-confirm", "short")
        self.el("rs-submit").click()
        err = wait("the new password's error", lambda: self.text("rs-new-err"))
        if "12" not in err:
            raise Failed("unexpected new-password error: " + err)
        pw = self.el("rs-new")
        if pw.get_attribute("aria-invalid") != "true":
            raise Failed("the new password field is not marked invalid")
        if "rs-new-err" not in pw.get_attribute("aria-describedby"):
            raise Failed("the error is not tied to the field")
        if d.switch_to.active_element != pw:
            raise Failed("focus did not go to the field in error")
        self.shot("mail-reset-bad-password")

        # 8. the new password is set (the refused one left the token usable)
        self.fill("rs-new", NEW_PASSWORD)
        self.fill("rs-confirm", NEW_PASSWORD).send_keys(Keys.RETURN)
        wait("the password-changed message", lambda: "password was changed" in self.text("status"))
        if self.el("form-reset").is_displayed():
            raise Failed("the reset form still shows")
        self.shot("mail-reset-done")

        # 9. sign in with it (once the change reached the auth service)
        self.el("rs-signin").click()
        self.visible("signin")
        self.sign_in(username, username, NEW_PASSWORD)
        wait("confirmed", lambda: self.text("p-confirmed") == "Yes")
        self.shot("mail-signed-in-new-password")

    def silent(self, username, timeout):
        """Sign in, then wait for the page to renew its access token by
        itself (the access token's life is short in this run)."""
        self.d.get(self.url)
        self.visible("signin")
        self.sign_in(username, username)
        self.shot("silent-signed-in")
        wait("a silent renewal", lambda: int(self.d.execute_script(
            "return document.documentElement.dataset.renewals || 0")) >= 1, timeout)
        if not self.el("view-profile").is_displayed():
            raise Failed("signed out by the renewal")
        self.shot("silent-renewed")


def main():
    args = sys.argv[1:]
    silent = mail_dir = None
    if args[:1] == ["--silent-refresh"] and len(args) > 1:
        silent = float(args[1])
        args = args[2:]
    elif args[:1] == ["--mail"] and len(args) > 1:
        mail_dir = args[1]
        args = args[2:]
    if len(args) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    url, spki, shots, username, email = args
    os.makedirs(shots, exist_ok=True)
    d = browser(spki)
    f = Flow(d, url, shots)
    f.mail_dir = mail_dir
    try:
        if silent is not None:
            f.silent(username, silent)
        elif mail_dir is not None:
            f.mail_flow(username, email)
        else:
            f.run(username, email)
    except (Failed, WebDriverException) as e:
        try:
            d.save_screenshot(os.path.join(shots, "failed.png"))
            print("page text:\n" + d.find_element(By.TAG_NAME, "body").text, file=sys.stderr)
        except WebDriverException:
            pass
        print("FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
