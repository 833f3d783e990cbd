// The storefront's script: the browser's side of the vendor guide, step by
// step, against the shop (same origin) and the Fanfare emulator (apiUrl from
// GET /api/config). Every answer is shown with textContent, never as HTML.
"use strict";

(() => {
  const POLL_MS = 1000; // how often a consumer waiting in line asks again
  const CART = [{ sku: "sneaker-42", quantity: 1 }];

  const $ = (id) => document.getElementById(id);
  let config = null; // GET /api/config
  let session = null; // {accessToken, consumerId}, from Fanfare's exchange
  let admission = null; // the admission, from Fanfare's enter
  let loggedIn = false;

  // show sets a status line: its text and its state (the style and what a
  // test waits for).
  function show(id, state, text) {
    const el = $(id);
    el.dataset.state = state;
    el.textContent = text;
  }

  // note adds a line to "What happened".
  function note(text, ok) {
    const li = document.createElement("li");
    li.textContent = text;
    if (!ok) li.className = "bad";
    $("log").append(li);
  }

  // call sends a JSON request and reads the JSON answer; a network failure
  // is status 0.
  async function call(method, url, body, headers) {
    const init = { method, headers: Object.assign({}, headers) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      return { status: 0, data: { error: "network error: " + e.message } };
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    return { status: resp.status, data: data || {} };
  }

  // why describes an error answer: its status, code and message.
  function why(r) {
    const d = r.data || {};
    return [r.status || "no answer", d.code, d.error, d.message].filter(Boolean).join(" · ");
  }

  function enterURL() {
    return config.apiUrl + "/" + config.distributionType + "s/" + encodeURIComponent(config.distributionId) + "/enter";
  }

  function checkoutBody() {
    return {
      admissionToken: admission.admissionToken,
      consumerId: admission.consumerId,
      experienceType: config.distributionType,
      distributionId: config.distributionId,
      cart: CART,
    };
  }

  async function loadConfig() {
    const r = await call("GET", "/api/config");
    if (r.status !== 200) {
      note("GET /api/config: " + why(r), false);
      return;
    }
    config = r.data;
    $("api-url").textContent = config.apiUrl;
    $("join").disabled = !loggedIn;
    note("GET /api/config: " + config.distributionType + " " + config.distributionId + " of " + config.organizationId, true);
  }

  async function login(ev) {
    ev.preventDefault();
    const userId = $("user-id").value.trim();
    const r = await call("POST", "/login", { userId, email: $("email").value.trim() });
    if (r.status !== 200) {
      show("login-status", "error", "Login refused: " + why(r));
      note("POST /login: " + why(r), false);
      return;
    }
    show("login-status", "ok", "Logged in as " + userId + " (toy login).");
    note("POST /login: 200, session cookie set (HttpOnly)", true);
    loggedIn = true;
    $("join").disabled = !config || session !== null;
  }

  // join is the guide's steps 1 to 5: an exchange code from the shop, a
  // Fanfare session for it, then the queue.
  async function join() {
    $("join").disabled = true;
    show("queue-status", "busy", "Asking the shop for an exchange code…");
    let r = await call("POST", "/api/fanfare/authorize");
    if (r.status !== 200) return joinFailed("POST /api/fanfare/authorize", r);
    note("POST /api/fanfare/authorize: 200, exchange code (expires " + r.data.expiresAt + ")", true);

    show("queue-status", "busy", "Trading the code at Fanfare for a session…");
    r = await call("POST", config.apiUrl + "/auth/external/exchange", { exchangeCode: r.data.exchangeCode });
    if (r.status !== 200) return joinFailed("Fanfare exchange", r);
    session = { accessToken: r.data.accessToken, consumerId: r.data.consumerId };
    note("Fanfare exchange: 200, consumer " + session.consumerId, true);

    await enter(false);
  }

  function joinFailed(what, r) {
    show("queue-status", "error", what + " failed: " + why(r));
    note(what + ": " + why(r), false);
    $("join").disabled = false;
  }

  // enter asks Fanfare for the admission; while the queue holds the
  // consumer (202) it shows the place in line and asks again.
  async function enter(again) {
    const r = await call("POST", enterURL(), {}, { Authorization: "Bearer " + session.accessToken });
    if (r.status === 202) {
      show("queue-status", "waiting", "Waiting in line: position " + r.data.position + ".");
      if (!again) note("Fanfare enter: 202, waiting at position " + r.data.position, true);
      setTimeout(() => enter(true), POLL_MS);
      return;
    }
    if (r.status !== 200 || !r.data.admissionToken) return joinFailed("Fanfare enter", r);
    admission = r.data;
    const where = admission.position ? " at position " + admission.position : "";
    show("queue-status", "admitted", "Admitted" + where + ". Your admission is good until " + admission.expiresAt + ".");
    note("Fanfare enter: 200, admitted" + where + " with an admission token", true);
    $("buy").disabled = false;
  }

  // buy is the guide's step 6: checkout with the admission.
  async function buy() {
    $("buy").disabled = true;
    const r = await call("POST", "/api/checkout", checkoutBody());
    if (r.status !== 200) {
      show("order-status", "error", "Checkout failed: " + why(r));
      note("POST /api/checkout: " + why(r), false);
      $("buy").disabled = false;
      return;
    }
    show("order-status", "placed", "Order " + r.data.orderId + " placed.");
    note("POST /api/checkout: 200, order " + r.data.orderId, true);
    $("buy-again").disabled = false;
  }

  // buyAgain replays the used admission: the shop must refuse it.
  async function buyAgain() {
    $("buy-again").disabled = true;
    const r = await call("POST", "/api/checkout", checkoutBody());
    if (r.status === 409) {
      show("again-status", "refused", "Refused: " + why(r) + ". One admission buys one order.");
      note("POST /api/checkout again: " + why(r), true);
      return;
    }
    show("again-status", "error", "Unexpected answer to a replayed admission: " + why(r));
    note("POST /api/checkout again: " + why(r), false);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("join").addEventListener("click", join);
    $("buy").addEventListener("click", buy);
    $("buy-again").addEventListener("click", buyAgain);
    loadConfig();
  });
})();
