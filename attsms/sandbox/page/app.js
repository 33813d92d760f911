// The sandbox's page: phones, a thread per phone, reply as the phone, make delivery fail, faults.
// Plain script, no framework. Every text from the sandbox goes in with textContent, never HTML.
"use strict";

const PAGE = 50;
const POLL_MS = 700;
const view = { offset: 0, query: "", address: null, version: -1, refresh: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  const data = await answer.json();
  if (!answer.ok) {
    const error = data.RequestError || {};
    const detail = error.ServiceException || error.PolicyException || {};
    throw new Error((detail.Text || "error").replace("%1", detail.Variables || ""));
  }
  return data;
}

function say(text) { $("live").textContent = text; }

async function loadPhones() {
  const query = encodeURIComponent(view.query);
  const data = await call("GET", `/sandbox/phones?q=${query}&offset=${view.offset}&limit=${PAGE}`);
  const list = $("phone-list");
  // Re-rendered on every change: keep the keyboard's place on the same phone.
  const focused = document.activeElement?.closest?.("#phone-list button")?.dataset.address;
  list.replaceChildren(...data.phones.map((phone) => {
    const button = el("button", { type: "button", "data-address": phone.address },
      el("span", { text: phone.number }),
      el("span", { class: "muted", text: `${phone.received} received, ${phone.sent} sent` }));
    if (phone.address === view.address) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => openPhone(phone.address));
    return el("li", {}, button);
  }));
  if (focused) list.querySelector(`button[data-address="${CSS.escape(focused)}"]`)?.focus();
  const last = Math.min(view.offset + data.phones.length, data.total);
  $("phone-count").textContent = `${data.total} phone${data.total === 1 ? "" : "s"}`;
  $("page-info").textContent = data.total ? `${view.offset + 1}–${last}` : "";
  $("newer").disabled = view.offset === 0;
  $("older").disabled = last >= data.total;
  const select = $("reply-to");
  if (!select.options.length) {
    select.replaceChildren(...data.registrations.map((id) => el("option", { value: id, text: id })));
  }
  offerNumber(data.phones);
}

function typedNumber() {
  const digits = view.query.replace(/\D/g, "");
  if (digits.length === 10) return `+1${digits}`;
  if (digits.length === 11 && digits[0] === "1") return `+${digits}`;
  return null;
}

function offerNumber(phones) {
  const number = typedNumber();
  const button = $("open-number");
  const shown = number && !phones.some((p) => p.address === `tel:${number}`);
  button.hidden = !shown;
  if (shown) button.textContent = `Open ${number}`;
}

// "2026-12-07T02:58:23.407Z" -> "02:58:23 UTC": the day is rarely news in a sandbox session.
const clock = (iso) => `${iso.slice(11, 19)} UTC`;

function describe(event) {
  if (event.kind === "sent") return `sent to ${event.to} at ${clock(event.at)}`;
  const parts = [`received ${clock(event.at)}`, `${event.encoding}, ${event.segments} segment${event.segments === 1 ? "" : "s"}`];
  if (event.final) parts.push(`${event.status} at ${clock(event.statusAt)}`);
  else if (event.finalAt) parts.push(`${event.status}, ${event.finalStatus} at ${clock(event.finalAt)}`);
  else parts.push(`${event.status}, never final`);
  return parts.join(" · ");
}

// The thread is a live log region: keep the items already shown (a screen reader announces only
// what is added), update their status line in place, append the new ones.
function showEvents(events) {
  const list = $("events");
  const key = (event) => `${event.kind}:${event.messageId}`;
  let kept = 0;
  while (kept < list.children.length && kept < events.length && list.children[kept].dataset.key === key(events[kept])) {
    const meta = list.children[kept].querySelector(".meta");
    if (meta.textContent !== describe(events[kept])) meta.textContent = describe(events[kept]);
    kept += 1;
  }
  while (list.children.length > kept) list.lastChild.remove();
  list.append(...events.slice(kept).map((event) => el("li",
    { class: `msg ${event.kind}`, "data-key": key(event) },
    el("p", { class: "text", text: event.text }),
    el("p", { class: "meta", text: describe(event) }))));
  list.hidden = false;
}

async function loadThread() {
  if (!view.address) return;
  const data = await call("GET", `/sandbox/phones/${encodeURIComponent(view.address)}`);
  $("thread-title").textContent = data.number;
  $("thread-hint").hidden = data.events.length > 0;
  $("thread-hint").textContent = "Nothing yet.";
  showEvents(data.events);
  $("reply").hidden = false;
  $("reply-label").textContent = `Reply as ${data.number}`;
  $("outcome").hidden = false;
  $("number-rule").textContent = data.numberRule;
  for (const radio of document.querySelectorAll("input[name=outcome]")) {
    radio.checked = radio.value === (data.outcome || "");
  }
  clearTimeout(view.refresh);
  if (data.refreshInMs !== null) view.refresh = setTimeout(guard(loadThread), data.refreshInMs + 50);
}

function openPhone(address) {
  if (address !== view.address) $("events").replaceChildren();
  view.address = address;
  for (const button of document.querySelectorAll("#phone-list button")) {
    if (button.dataset.address === address) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  guard(loadThread)();
}

function describeRule(rule) {
  let what = rule.drop_connection ? "dropped connection" : `HTTP ${rule.status || 503}`;
  if (rule.after_processing && !rule.status && !rule.drop_connection) what = "real answer";
  if (rule.after_processing) what += " after processing";
  if (rule.delay_ms) what += `, ${rule.delay_ms} ms late`;
  return `${what} on ${rule.method} ${rule.path_prefix}: ${rule.count} left`;
}

async function loadFaults() {
  const data = await call("GET", "/sandbox/faults");
  const items = data.rules.map((rule) => el("li", { text: describeRule(rule) }));
  $("armed").replaceChildren(...(items.length ? items : [el("li", { text: "None." })]));
}

function faultRule() {
  const kind = $("fault-kind").value;
  const rule = { path_prefix: $("fault-path").value, count: Number($("fault-count").value) || 1 };
  if (kind === "rate") Object.assign(rule, { status: 429, headers: { "Retry-After": "1" } });
  if (kind === "after") Object.assign(rule, { status: 503, after_processing: true });
  if (kind === "drop") Object.assign(rule, { drop_connection: true });
  if (kind === "latency") Object.assign(rule, { after_processing: true, delay_ms: Number($("fault-delay").value) || 0 });
  return rule;
}

async function reply(text) {
  const number = view.address.replace(/^tel:/, "");
  await call("POST", `/sandbox/inbox/${encodeURIComponent($("reply-to").value)}`, { from: number, text });
  say(`Sent "${text}" as ${number}.`);
}

async function poll() {
  const data = await call("GET", "/sandbox/changes");
  if (data.version !== view.version) {
    view.version = data.version;
    await Promise.all([loadPhones(), loadThread(), loadFaults()]);
  }
  say("Live: updates as the sandbox changes.");
}

function guard(action) {
  return async (...args) => {
    try { await action(...args); } catch (error) { say(`Could not reach the sandbox: ${error.message}`); }
  };
}

function wire() {
  let typing = null;
  $("filter").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(guard(async () => {
      view.query = $("filter").value;
      view.offset = 0;
      await loadPhones();
    }), 150);
  });
  $("open-number").addEventListener("click", () => openPhone(`tel:${typedNumber()}`));
  $("newer").addEventListener("click", guard(async () => { view.offset = Math.max(0, view.offset - PAGE); await loadPhones(); }));
  $("older").addEventListener("click", guard(async () => { view.offset += PAGE; await loadPhones(); }));
  $("reply").addEventListener("submit", guard(async (event) => {
    event.preventDefault();
    const text = $("reply-text").value;
    if (!text) return;
    await reply(text);
    $("reply-text").value = "";
  }));
  for (const button of document.querySelectorAll(".keyword")) {
    button.addEventListener("click", guard(() => reply(button.dataset.keyword)));
  }
  for (const radio of document.querySelectorAll("input[name=outcome]")) {
    radio.addEventListener("change", guard(async () => {
      await call("POST", `/sandbox/phones/${encodeURIComponent(view.address)}/outcome`, { outcome: radio.value || null });
      say(`Next deliveries to ${view.address.replace(/^tel:/, "")}: ${radio.value || "by its digits"}.`);
    }));
  }
  $("fault-form").addEventListener("submit", guard(async (event) => {
    event.preventDefault();
    await call("POST", "/sandbox/faults", { rules: [faultRule()] });
  }));
  $("clear-faults").addEventListener("click", guard(() => call("DELETE", "/sandbox/faults")));
  const tick = guard(poll);
  tick();
  setInterval(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", wire);
