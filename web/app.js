// Magenta's page: sign up, sign in (username or email), profile, sign out;
// the mails' links (/confirm-email?token=, /reset-password?token=, served
// as this page), a forgotten password, the confirmation sent again.
//
// Tokens: the access token lives in this module's memory only (never in
// localStorage, sessionStorage or a readable cookie) and is renewed before
// it expires.  The refresh token is the HttpOnly cookie magenta_refresh
// that the auth service sets (config refresh_cookie): scripts never see
// it, and the refreshToken in the JSON answers is ignored.  A reload signs
// in again through that cookie.  Every call goes to this page's own origin.

const REFRESH_EARLY = 60; // seconds before expiry the access token is renewed
const REFRESH_MIN = 5;

let accessToken = null; // the only copy
let refreshTimer = null;
let profileVersion = null; // the registration profile's version, for If-Match

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------ HTTP

// One call to the APIs: {status, data} (data null without a JSON body).
async function call(method, path, body, { auth = false, headers = {} } = {}) {
  const h = { Accept: "application/json", ...headers };
  const init = { method, headers: h, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (auth && accessToken) h.Authorization = `Bearer ${accessToken}`;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { status: 0, data: null };
  }
  let data = null;
  if ((res.headers.get("Content-Type") || "").startsWith("application/json")) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  return { status: res.status, data, res };
}

// A call with the access token; once renewed and retried on a 401.
async function authed(method, path, body, opts = {}) {
  let r = await call(method, path, body, { ...opts, auth: true });
  if (r.status === 401 && (await refresh())) r = await call(method, path, body, { ...opts, auth: true });
  return r;
}

// ------------------------------------------------------------ tokens

function setSession(data) {
  accessToken = data.accessToken;
  clearTimeout(refreshTimer);
  const ttl = Number(data.expiresIn) || 900;
  const wait = Math.max(REFRESH_MIN, ttl > 2 * REFRESH_EARLY ? ttl - REFRESH_EARLY : ttl / 2);
  refreshTimer = setTimeout(silentRefresh, wait * 1000);
}

function endSession() {
  accessToken = null;
  profileVersion = null;
  clearTimeout(refreshTimer);
  refreshTimer = null;
}

// A new access token through the refresh cookie: true when renewed.
async function refresh() {
  const r = await call("POST", "/api/auth/refresh");
  if (r.status === 200 && r.data && r.data.accessToken) {
    setSession(r.data);
    return true;
  }
  return false;
}

// The timer's renewal; the count on <html data-renewals> is for tests
// (tests/tools/web-flow.py), it holds no secret.
async function silentRefresh() {
  if (await refresh()) {
    const h = document.documentElement;
    h.dataset.renewals = String(Number(h.dataset.renewals || 0) + 1);
  } else {
    endSession();
    show("signin", "Your session ended. Please sign in again.");
  }
}

// ------------------------------------------------------------ views

const VIEWS = ["loading", "signin", "signup", "forgot", "confirm", "reset", "profile"];

function say(text) {
  $("status").textContent = text || "";
}

function show(view, message) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  const signedIn = view === "profile";
  $("nav-signin").hidden = signedIn;
  $("nav-signup").hidden = signedIn;
  $("nav-signout").hidden = !signedIn;
  for (const b of document.querySelectorAll(".bar nav button[data-view]")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  say(message);
  const h = $(`h-${view}`);
  if (h) h.focus();
}

// ------------------------------------------------------------ errors

function clearErrors(form) {
  for (const p of form.querySelectorAll("[data-error-for]")) p.textContent = "";
  for (const i of form.querySelectorAll("input")) i.removeAttribute("aria-invalid");
}

// The API's {"errors":[{"field","code","message"}]} shown by each field
// (the form's own line for a field it has not, or none); focus goes to
// the first field in error.
function showErrors(form, data, fallback) {
  clearErrors(form);
  const list = data && Array.isArray(data.errors) && data.errors.length
    ? data.errors
    : [{ field: null, message: (data && data.message) || fallback }];
  let first = null;
  for (const e of list) {
    const input = e.field ? form.querySelector(`input[name="${CSS.escape(e.field)}"]`) : null;
    const slot = input
      ? form.querySelector(`[data-error-for="${CSS.escape(e.field)}"]`)
      : form.querySelector('[data-error-for=""]');
    if (!slot) continue;
    slot.textContent = slot.textContent ? `${slot.textContent} ${e.message}` : e.message;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  (first || form.querySelector("input")).focus();
}

function values(form) {
  const o = {};
  for (const i of form.querySelectorAll("input")) o[i.name] = i.type === "checkbox" ? i.checked : i.value;
  return o;
}

// Run handler(form) with the submit button disabled.
function onSubmit(id, handler) {
  const form = $(id);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const b = form.querySelector('button[type="submit"]');
    b.disabled = true;
    try {
      await handler(form);
    } finally {
      b.disabled = false;
    }
  });
}

const UNREACHABLE = "The service cannot be reached. Try again in a moment.";

// ------------------------------------------------------------ forms

onSubmit("form-signup", async (form) => {
  const v = values(form);
  const body = { username: v.username, email: v.email, password: v.password, confirmPassword: v.confirmPassword };
  if (v.displayName) body.displayName = v.displayName;
  const r = await call("POST", "/api/registration/register", body);
  if (r.status === 201) {
    clearErrors(form);
    form.reset();
    $("si-ident").value = body.username;
    show("signin", `Account ${body.username} created. Sign in with your password.`);
    $("si-password").focus();
    return;
  }
  showErrors(form, r.data, r.status ? "Sign-up failed." : UNREACHABLE);
});

onSubmit("form-signin", async (form) => {
  const v = values(form);
  const r = await call("POST", "/api/auth/login", {
    usernameOrEmail: v.usernameOrEmail,
    password: v.password,
    rememberMe: v.rememberMe,
  });
  if (r.status === 200 && r.data && r.data.accessToken) {
    clearErrors(form);
    form.reset();
    setSession(r.data);
    await loadProfile("Signed in.");
    return;
  }
  let fallback = r.status ? "Sign-in failed." : UNREACHABLE;
  if (r.status === 429) fallback = "Too many attempts. Wait a little and try again.";
  // one answer for every refusal: the API does not say which part was wrong
  showErrors(form, r.status === 401 ? { message: "Wrong username, email or password." } : r.data, fallback);
});

// One answer whatever the address: the API's 202 says nothing of accounts.
const FORGOT_SENT = "If the address is known, a mail is on its way: follow its link to choose a new password.";

onSubmit("form-forgot", async (form) => {
  const v = values(form);
  const r = await call("POST", "/api/registration/password/forgot", { email: v.email });
  if (r.status === 202) {
    clearErrors(form);
    form.reset();
    say(FORGOT_SENT);
    return;
  }
  let fallback = r.status ? "Could not send the link." : UNREACHABLE;
  if (r.status === 429) fallback = "Too many requests. Wait a little and try again.";
  showErrors(form, r.status === 429 ? null : r.data, fallback);
});

let resetToken = null; // the reset link's token, in memory once off the address bar

onSubmit("form-reset", async (form) => {
  const v = values(form);
  const r = await call("POST", "/api/registration/password/reset", {
    token: resetToken || "",
    newPassword: v.newPassword,
    confirmPassword: v.confirmPassword,
  });
  if (r.status === 200) {
    resetToken = null;
    clearErrors(form);
    form.reset();
    form.hidden = true;
    say("Your password was changed. Sign in with the new one.");
    $("rs-signin").focus();
    return;
  }
  // a refused password leaves the token usable: the form stays
  showErrors(form, r.data, r.status ? "Could not change the password." : UNREACHABLE);
});

onSubmit("form-display", async (form) => {
  const v = values(form);
  const headers = profileVersion !== null ? { "If-Match": `"${profileVersion}"` } : {};
  const r = await authed("PATCH", "/api/registration/users/me", { displayName: v.displayName }, { headers });
  if (r.status === 200) {
    clearErrors(form);
    fillRegistration(r.data);
    say("Display name saved.");
    return;
  }
  if (r.status === 412) {
    await loadProfile();
    showErrors(form, null, "The profile changed elsewhere; it is shown again. Try once more.");
    return;
  }
  showErrors(form, r.data, r.status ? "Could not save." : UNREACHABLE);
});

onSubmit("form-password", async (form) => {
  const v = values(form);
  const r = await authed("POST", "/api/registration/users/me/password", {
    currentPassword: v.currentPassword,
    newPassword: v.newPassword,
    confirmPassword: v.confirmPassword,
  });
  if (r.status >= 200 && r.status < 300) {
    form.reset();
    clearErrors(form);
    await signOut("Password changed. Sign in with the new one.");
    return;
  }
  showErrors(form, r.data, r.status ? "Could not change the password." : UNREACHABLE);
});

onSubmit("form-delete", async (form) => {
  const v = values(form);
  const r = await authed("DELETE", "/api/registration/users/me", { password: v.password });
  if (r.status === 204 || r.status === 200) {
    form.reset();
    clearErrors(form);
    await signOut("Your account was deleted.");
    return;
  }
  showErrors(form, r.data, r.status ? "Could not delete the account." : UNREACHABLE);
});

// ------------------------------------------------------------ profile

function fillRegistration(d) {
  if (!d) return;
  $("p-display").textContent = d.displayName || "—";
  $("pd-display").value = d.displayName || "";
  if (d.version !== undefined) profileVersion = d.version;
}

// Whether the address is confirmed (the registration service's word when
// it answered, else the auth service's), and the resend button if not.
function fillConfirmed(confirmed) {
  $("p-confirmed").textContent = confirmed ? "Yes" : "No, not yet";
  $("p-resend-box").hidden = confirmed;
  $("p-resend-msg").textContent = "";
}

async function loadProfile(message) {
  const me = await authed("GET", "/api/auth/me");
  if (me.status !== 200 || !me.data) {
    endSession();
    show("signin", me.status ? "Please sign in." : UNREACHABLE);
    return;
  }
  $("p-username").textContent = me.data.username;
  $("p-email").textContent = me.data.email;
  $("p-id").textContent = me.data.id;
  $("p-created").textContent = me.data.createdAt ? new Date(me.data.createdAt).toLocaleDateString() : "";
  $("p-display").textContent = "—";
  const reg = await authed("GET", "/api/registration/users/me");
  if (reg.status === 200) fillRegistration(reg.data);
  fillConfirmed(reg.status === 200 && reg.data ? reg.data.emailConfirmed === true : me.data.emailConfirmed === true);
  show("profile", message);
}

$("p-resend").addEventListener("click", async () => {
  const b = $("p-resend");
  const msg = $("p-resend-msg");
  b.disabled = true;
  try {
    const r = await authed("POST", "/api/registration/users/me/confirm-email/resend");
    if (r.status === 202) {
      msg.textContent = "A confirmation mail is on its way: follow its link.";
    } else if (r.status === 409) {
      fillConfirmed(true);
      msg.textContent = "The address is confirmed already.";
    } else if (r.status === 429) {
      const wait = Number(r.res.headers.get("Retry-After"));
      const mins = wait > 0 ? Math.ceil(wait / 60) : 0;
      msg.textContent = "Too many confirmation mails" + (mins ? `: try again in ${mins} minute${mins === 1 ? "" : "s"}.` : "; try again later.");
    } else {
      msg.textContent = (r.data && r.data.message) || (r.status ? "Could not send the mail." : UNREACHABLE);
    }
  } finally {
    b.disabled = false;
  }
});

async function signOut(message) {
  // the access token ends its session; the cookie is sent and removed too
  await call("POST", "/api/auth/logout", undefined, { auth: true });
  endSession();
  show("signin", message || "Signed out.");
}

// ------------------------------------------------------------ navigation

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("[data-view]");
  if (!t) return;
  ev.preventDefault();
  show(t.dataset.view);
});
$("nav-signout").addEventListener("click", () => signOut());

// ------------------------------------------------------------ the mails' links

// The token of this address's ?token=, taken off the address bar (and so
// out of the history) at once: it lives in memory only.
function takeToken() {
  const token = new URLSearchParams(location.search).get("token");
  history.replaceState(null, "", "/");
  return token;
}

// /confirm-email?token=T: confirm the address, say how it went.
async function confirmEmail() {
  const token = takeToken();
  const out = $("cf-result");
  show("confirm");
  out.classList.remove("bad");
  if (!token) {
    out.classList.add("bad");
    out.textContent = "This link has no token. Sign in and send the confirmation again from your profile.";
    return;
  }
  out.textContent = "Confirming your address…";
  const r = await call("POST", "/api/registration/confirm-email", { token });
  if (r.status === 200) {
    const email = r.data && r.data.email;
    out.textContent = email ? `Your address ${email} is confirmed.` : "Your address is confirmed.";
    return;
  }
  out.classList.add("bad");
  const why = (r.data && r.data.message) || (r.status ? "The address could not be confirmed." : UNREACHABLE);
  out.textContent = r.data && r.data.error === "invalid_token"
    ? `${why} Sign in and send the confirmation again from your profile.`
    : why;
}

// /reset-password?token=T: the new password's form.
function resetPassword() {
  resetToken = takeToken();
  const form = $("form-reset");
  clearErrors(form);
  form.hidden = !resetToken;
  show("reset", resetToken ? "" : "This link has no token. Ask for a new one.");
  if (resetToken) $("rs-new").focus();
}

// A page (re)load: a mail's link, else a live refresh cookie signs in
// again at once.
(async () => {
  if (location.pathname === "/confirm-email") return confirmEmail();
  if (location.pathname === "/reset-password") return resetPassword();
  if (await refresh()) await loadProfile();
  else show(["#signup", "#forgot"].includes(location.hash) ? location.hash.slice(1) : "signin");
})();
