// The studio: every form is built from the served manifest (GET /v1/{connector}); every
// step runs through the service's own routes with the tab's bearer token. Text from the
// server or the user is only ever set as textContent (never parsed as HTML), and a
// message's HTML goes to a sandboxed frame without scripts.
"use strict";

const TOKEN_KEY = "connector-studio-token";
const KINDS = {
  action: { title: "Actions", label: "Action", table: "actions" },
  trigger: { title: "Triggers", label: "Trigger (polling)", table: "triggers" },
  dataSource: { title: "Data sources", label: "Data source (picklist)", table: "dataSources" },
};
const studio = {
  connector: null, // its name
  manifest: null,
  connection: null, // the connection entry of the manifest in use
  step: null, // {kind, spec}
  states: {}, // trigger key -> the state its last poll returned
  picklists: {}, // data source key -> [{key, label}]
};

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

// -- the API ------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let reply;
  try {
    reply = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    return { status: 0, json: failure("NETWORK", `The service did not answer: ${error}`) };
  }
  let json;
  try {
    json = await reply.json();
  } catch {
    json = failure("NOT_JSON", `The service answered HTTP ${reply.status} without JSON.`);
  }
  if (reply.status === 401) showGate("The service refused the token: give the right one.");
  return { status: reply.status, json };
}

function failure(code, message) {
  return { ok: false, error: { code, message, retryable: false, details: [] } };
}

function stepPath(kind, key) {
  const base = `/v1/${encodeURIComponent(studio.connector)}`;
  if (kind === "action") return `${base}/actions/${encodeURIComponent(key)}`;
  if (kind === "trigger") return `${base}/triggers/${encodeURIComponent(key)}/poll`;
  if (kind === "dataSource") return `${base}/data-sources/${encodeURIComponent(key)}`;
  return `${base}/test-connection`;
}

// -- start: the token, then the connector ---------------------------------------------------

function showGate(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  $("top-controls").hidden = true;
  $("gate").hidden = false;
  $("token-error").textContent = message || "";
  $("token").setAttribute("aria-invalid", message ? "true" : "false");
  $("token").focus();
}

async function start() {
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) {
      showGate("Give the service token.");
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    await open();
  });
  $("forget-token").addEventListener("click", () => showGate(""));
  $("connector-pick").addEventListener("change", () => loadConnector($("connector-pick").value));
  $("test-connection").addEventListener("click", testConnection);
  $("fill-connection").addEventListener("click", fillConnection);
  $("run").addEventListener("click", run);
  $("reset-state").addEventListener("click", () => {
    if (studio.step) delete studio.states[studio.step.spec.key];
    showState();
  });
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", () => copy(button));
  }
  window.addEventListener("hashchange", () => pickFromHash());
  if (sessionStorage.getItem(TOKEN_KEY)) await open();
  else showGate("");
}

async function open() {
  const health = await fetch("/healthz", { cache: "no-store" }).then((r) => r.json());
  const names = health.connectors || [];
  const pick = $("connector-pick");
  pick.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
  if (!names.length) return showGate("This service serves no connector.");
  const wanted = new URLSearchParams(location.search).get("connector");
  await loadConnector(names.includes(wanted) ? wanted : names[0]);
}

async function loadConnector(name) {
  const { status, json } = await api("GET", `/v1/${encodeURIComponent(name)}`);
  if (status !== 200) return;
  studio.connector = name;
  studio.manifest = json;
  studio.states = {};
  studio.picklists = {};
  $("connector-pick").value = name;
  $("gate").hidden = true;
  $("app").hidden = false;
  $("top-controls").hidden = false;
  document.title = `${json.label || name} · Connector studio`;
  renderConnectionKinds();
  renderNav();
  pickFromHash() || pick("action", (json.actions || [])[0]);
}

// -- the connection --------------------------------------------------------------------------

function renderConnectionKinds() {
  const connections = studio.manifest.connections || [];
  const holder = $("connection-kind");
  holder.replaceChildren();
  if (connections.length > 1) {
    const select = el(
      "select",
      { id: "connection-key", onchange: () => renderConnection(select.value) },
      connections.map((c) => el("option", { value: c.key, text: c.label || c.key })),
    );
    holder.append(
      el("div", { class: "field" }, el("label", { for: "connection-key", text: "Kind" }), select),
    );
  }
  renderConnection(connections[0] && connections[0].key);
}

function renderConnection(key) {
  const connections = studio.manifest.connections || [];
  studio.connection = connections.find((c) => c.key === key) || connections[0];
  const form = $("connection-form");
  form.replaceChildren(...(studio.connection.inputs || []).map((s) => field(s, "conn")));
  $("connection-result").replaceChildren();
  if (studio.connection.description) {
    form.prepend(el("p", { class: "help field wide", text: studio.connection.description }));
  }
}

function connectionValue() {
  return {
    key: studio.connection.key,
    fields: collect(studio.connection.inputs || [], "conn"),
  };
}

function fillConnection() {
  const error = $("connection-json-error");
  let value;
  try {
    value = JSON.parse($("connection-json").value);
  } catch (problem) {
    error.textContent = `Not JSON: ${problem.message}`;
    $("connection-json").setAttribute("aria-invalid", "true");
    return;
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    error.textContent = "Give a JSON object: the connection's fields.";
    return;
  }
  const fields = value.fields && typeof value.fields === "object" ? value.fields : value;
  if (value.key && $("connection-key")) {
    $("connection-key").value = value.key;
    renderConnection(value.key);
  }
  const known = new Set((studio.connection.inputs || []).map((s) => s.key));
  const unknown = Object.keys(fields).filter((k) => !known.has(k));
  for (const [key, given] of Object.entries(fields)) {
    const control = $(`conn-${key}`);
    if (!control) continue;
    if (control.type === "checkbox") control.checked = given === true || given === "true";
    else control.value = typeof given === "string" ? given : JSON.stringify(given);
  }
  $("connection-json").setAttribute("aria-invalid", "false");
  error.textContent = unknown.length ? `Not fields of this connection: ${unknown.join(", ")}` : "";
  $("connection-json").value = ""; // it may hold a password: not kept on the page
  updateCopy();
}

async function testConnection() {
  clearErrors();
  const out = $("connection-result");
  out.replaceChildren(el("p", { text: "Testing…" }));
  const { json } = await api("POST", stepPath("testConnection"), { connection: connectionValue() });
  out.replaceChildren(outcome(json, { compact: true }));
  if (json.ok) loadPicklists();
  else markErrors(json.error);
}

// -- steps -------------------------------------------------------------------------------------

function renderNav() {
  const nav = $("steps");
  nav.replaceChildren();
  for (const [kind, info] of Object.entries(KINDS)) {
    const specs = studio.manifest[info.table] || [];
    if (!specs.length) continue;
    nav.append(
      el("h2", { text: info.title }),
      el(
        "ul",
        {},
        specs.map((spec) =>
          el(
            "li",
            {},
            el("button", {
              type: "button",
              "data-kind": kind,
              "data-key": spec.key,
              title: spec.description || "",
              text: spec.label || spec.key,
              onclick: () => {
                location.hash = `${kind}/${spec.key}`;
              },
            }),
          ),
        ),
      ),
    );
  }
}

function pickFromHash() {
  const [kind, key] = decodeURIComponent(location.hash.slice(1)).split("/");
  if (!KINDS[kind] || !studio.manifest) return false;
  const spec = (studio.manifest[KINDS[kind].table] || []).find((s) => s.key === key);
  if (!spec) return false;
  pick(kind, spec);
  return true;
}

function pick(kind, spec) {
  if (!spec) return;
  studio.step = { kind, spec };
  for (const button of document.querySelectorAll("#steps button")) {
    const current = button.dataset.kind === kind && button.dataset.key === spec.key;
    button.setAttribute("aria-current", current ? "true" : "false");
  }
  $("step-title").textContent = spec.label || spec.key;
  $("step-kind").textContent = `${KINDS[kind].label} · ${spec.key}`;
  $("step-description").textContent = spec.description || "";
  const form = $("step-form");
  form.replaceChildren(...(spec.inputs || []).map((s) => field(s, "step")));
  if (!(spec.inputs || []).length) form.append(el("p", { class: "help", text: "No inputs." }));
  $("run").textContent = kind === "trigger" ? "Poll" : "Run";
  $("run").disabled = false;
  $("trigger-state").hidden = kind !== "trigger";
  $("result").replaceChildren();
  showState();
  fillPicklists();
  updateCopy();
}

function showState() {
  if (!studio.step || studio.step.kind !== "trigger") return;
  const state = studio.states[studio.step.spec.key];
  $("state-view").textContent = state ? JSON.stringify(state, null, 2) : "{} (a first poll)";
}

function requestBody() {
  const { kind, spec } = studio.step;
  const body = { connection: connectionValue(), inputs: collect(spec.inputs || [], "step") };
  if (kind === "trigger") body.state = studio.states[spec.key] || {};
  return body;
}

async function run() {
  if (!studio.step) return;
  const { kind, spec } = studio.step;
  clearErrors();
  const button = $("run");
  button.disabled = true;
  $("result").replaceChildren(el("p", { text: "Running…" }));
  const started = performance.now();
  const { json } = await api("POST", stepPath(kind, spec.key), requestBody());
  const ms = Math.round(performance.now() - started);
  button.disabled = false;
  if (json.ok && kind === "trigger") {
    studio.states[spec.key] = json.state;
    showState();
  }
  if (json.ok && kind === "dataSource") studio.picklists[spec.key] = json.data;
  $("result").replaceChildren(outcome(json, { ms, kind }));
  if (!json.ok) markErrors(json.error);
  updateCopy();
}

// -- fields --------------------------------------------------------------------------------------

function field(spec, scope) {
  const id = `${scope}-${spec.key}`;
  const help = spec.comments ? el("p", { class: "help", id: `${id}-help`, text: spec.comments }) : null;
  const error = el("p", { class: "field-error", id: `${id}-error` });
  const describedBy = [help && `${id}-help`, `${id}-error`].filter(Boolean).join(" ");
  const common = {
    id,
    name: spec.key,
    "data-key": spec.key,
    "data-type": spec.type,
    "aria-describedby": describedBy,
    required: spec.required ? true : null,
    "aria-required": spec.required ? "true" : null,
    placeholder: spec.placeholder || null,
  };
  const label = el(
    "label",
    { for: id },
    spec.label || spec.key,
    spec.required ? el("span", { class: "required-mark", "aria-hidden": "true", text: "*" }) : null,
  );
  const initial = spec.default;
  let control;
  let wide = false;
  if (spec.choices) {
    control = el("select", common);
    if (!spec.required || initial === undefined) {
      control.append(el("option", { value: "", text: spec.required ? "Choose…" : "(none)" }));
    }
    for (const choice of spec.choices) {
      const value = typeof choice.value === "string" ? choice.value : JSON.stringify(choice.value);
      control.append(el("option", { value, text: choice.label || String(choice.value) }));
    }
    if (initial !== undefined) {
      control.value = typeof initial === "string" ? initial : JSON.stringify(initial);
    }
  } else if (spec.type === "boolean") {
    control = el("input", { ...common, type: "checkbox", role: "switch", required: null });
    control.checked = initial === true;
    return el(
      "div",
      { class: "field" },
      el("div", { class: "switch" }, control, label),
      help,
      error,
    );
  } else if (spec.type === "file") {
    control = el("input", { ...common, type: "file", placeholder: null });
    control.addEventListener("change", () => readFile(control));
  } else if (["text", "list", "object"].includes(spec.type)) {
    control = el("textarea", { ...common, rows: spec.type === "text" ? 4 : 3, spellcheck: "false" });
    if (spec.type !== "text") control.classList.add("code");
    if (!spec.placeholder && spec.type === "list") control.placeholder = '["a", "b"]';
    if (!spec.placeholder && spec.type === "object") control.placeholder = '{"key": "value"}';
    if (initial !== undefined && initial !== null) {
      control.value = typeof initial === "string" ? initial : JSON.stringify(initial);
    }
    wide = true;
  } else {
    const type = {
      integer: "number",
      number: "number",
      password: "password",
      date: "date",
    }[spec.type] || "text";
    control = el("input", {
      ...common,
      type,
      step: spec.type === "integer" ? "1" : spec.type === "number" ? "any" : null,
      autocomplete: spec.type === "password" ? "off" : null,
      list: spec.dataSource ? `${id}-choices` : null,
    });
    if (spec.type === "date-time" && !spec.placeholder) {
      control.placeholder = "2024-05-01T09:30:00+02:00";
    }
    if (initial !== undefined && initial !== null) control.value = String(initial);
  }
  const parts = [label, control];
  if (spec.dataSource) {
    parts.push(el("datalist", { id: `${id}-choices`, "data-source": spec.dataSource }));
    parts.push(
      el("p", {
        class: "help picklist-note",
        id: `${id}-picklist`,
        text: "Choices load once the connection is tested.",
      }),
    );
  }
  return el("div", { class: `field${wide ? " wide" : ""}` }, parts, help, error);
}

// A file input's value: {name, contentType, content (base64)}, as the runtime takes it.
function readFile(control) {
  delete control.dataset.file;
  const file = control.files && control.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    const url = String(reader.result); // data:TYPE;base64,CONTENT
    const content = url.slice(url.indexOf(",") + 1);
    const contentType = file.type || "application/octet-stream";
    control.dataset.file = JSON.stringify({ name: file.name, contentType, content });
    updateCopy();
  };
  reader.readAsDataURL(file);
}

function collect(specs, scope) {
  const values = {};
  for (const spec of specs) {
    const control = $(`${scope}-${spec.key}`);
    if (!control) continue;
    if (spec.type === "boolean") {
      if (control.checked || spec.default !== undefined || spec.required) {
        values[spec.key] = control.checked;
      }
      continue;
    }
    const value = spec.type === "file" ? control.dataset.file || "" : control.value;
    if (value === "") continue; // not given: the manifest's default applies
    values[spec.key] = value; // raw strings, as a platform UI sends them: the runtime coerces
  }
  return values;
}

// -- picklists ----------------------------------------------------------------------------------

async function loadPicklists() {
  const wanted = new Set();
  for (const table of Object.values(KINDS).map((k) => k.table)) {
    for (const spec of studio.manifest[table] || []) {
      for (const input of spec.inputs || []) if (input.dataSource) wanted.add(input.dataSource);
    }
  }
  for (const key of wanted) {
    const { json } = await api("POST", stepPath("dataSource", key), {
      connection: connectionValue(),
      inputs: {},
    });
    if (json.ok && Array.isArray(json.data)) studio.picklists[key] = json.data;
  }
  fillPicklists();
}

function fillPicklists() {
  for (const list of document.querySelectorAll("datalist[data-source]")) {
    const choices = studio.picklists[list.dataset.source];
    if (!choices) continue;
    list.replaceChildren(
      ...choices.map((c) => el("option", { value: String(c.key), label: c.label || String(c.key) })),
    );
    const note = $(list.id.replace(/-choices$/, "-picklist"));
    if (note) note.textContent = `${choices.length} choices loaded (type to filter).`;
  }
}

// -- errors at their fields ---------------------------------------------------------------------

function clearErrors() {
  for (const node of document.querySelectorAll("[aria-invalid='true']")) {
    if (node.id !== "token") node.setAttribute("aria-invalid", "false");
  }
  for (const node of document.querySelectorAll(".field-error")) {
    if (node.id !== "token-error") node.textContent = "";
  }
}

function markErrors(error) {
  let first = null;
  for (const detail of (error && error.details) || []) {
    const [where, key] = String(detail.path || "").split(".");
    const scope = where === "inputs" ? "step" : where === "connection" ? "conn" : null;
    const control = scope && key ? $(`${scope}-${key}`) : null;
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    $(`${control.id}-error`).textContent = detail.message || error.message;
    first = first || control;
  }
  if (first) first.focus();
}

// -- what came back ------------------------------------------------------------------------------

function outcome(envelope, { ms, kind, compact } = {}) {
  const box = el("div", { class: "outcome" });
  if (!envelope.ok) {
    const error = envelope.error || {};
    box.append(
      el(
        "div",
        { class: "error-box", role: "alert" },
        el("p", {}, el("span", { class: "error-badge", text: error.code || "ERROR" }),
          ms !== undefined ? ` in ${ms} ms` : "",
          error.retryable ? " · retryable" : ""),
        el("p", { class: "error-message", text: error.message || "" }),
      ),
    );
  } else {
    const count = Array.isArray(envelope.data) ? ` · ${envelope.data.length} records` : "";
    box.append(
      el("p", {}, el("span", { class: "ok-badge", text: "OK" }),
        ms !== undefined ? ` in ${ms} ms` : "", count,
        envelope.hasMore ? " · more to come: poll again" : ""),
    );
    box.append(view(envelope.data, { compact }));
  }
  box.append(
    el("details", {}, el("summary", { text: "Raw JSON" }),
      el("pre", { class: "raw", tabindex: "0", text: JSON.stringify(envelope, null, 2) })),
  );
  return box;
}

function view(data, { compact } = {}) {
  if (isRows(data)) return table(data);
  if (data && typeof data === "object" && !Array.isArray(data)) {
    const message = messageOf(data);
    const parts = [];
    const scalars = Object.entries(data).filter(([, v]) => !isRows(v) && v !== message);
    if (scalars.length) parts.push(pairs(Object.fromEntries(scalars), compact));
    for (const [key, value] of Object.entries(data)) {
      if (isRows(value)) parts.push(el("h3", { text: key }), table(value));
    }
    if (message) parts.push(messageView(message, data));
    return el("div", {}, parts);
  }
  return el("pre", { text: JSON.stringify(data, null, 2) });
}

function isRows(value) {
  return Array.isArray(value) && value.length > 0 &&
    value.every((row) => row && typeof row === "object" && !Array.isArray(row));
}

function messageOf(data) {
  const looks = (m) => m && typeof m === "object" && ("text" in m || "html" in m) && "attachments" in m;
  if (looks(data.message)) return data.message;
  return null;
}

function shown(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) {
    return value.map((v) => (v && typeof v === "object" && "address" in v
      ? (v.name ? `${v.name} <${v.address}>` : v.address)
      : typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function pairs(object, compact) {
  const list = el("dl", { class: "pairs" });
  for (const [key, value] of Object.entries(object)) {
    let text = shown(value);
    if (compact && text.length > 300) text = `${text.slice(0, 300)}…`;
    list.append(el("dt", { text: key }), el("dd", { text }));
  }
  return list;
}

function columnsOf(rows) {
  const columns = [];
  const add = (name) => { if (!columns.includes(name)) columns.push(name); };
  for (const row of rows.slice(0, 50)) {
    for (const [key, value] of Object.entries(row)) {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        for (const [inner, v] of Object.entries(value)) {
          if (v === null || typeof v !== "object" || Array.isArray(v)) add(`${key}.${inner}`);
        }
      } else {
        add(key);
      }
    }
  }
  // The readable ones first (subjects, senders, dates), the rarely read last; at most 8
  // columns (the raw JSON has everything).
  const rank = (c) => {
    if (/sender|replyTo|bcc|inReplyTo|references|messageId/i.test(c)) return 3;
    if (/subject|label|name|title/i.test(c)) return 0;
    return /from|date|uid|key|flags/i.test(c) ? 1 : 2;
  };
  return columns.sort((a, b) => rank(a) - rank(b)).slice(0, 8);
}

function cell(row, column) {
  const [outer, inner] = column.split(".");
  const value = inner === undefined ? row[outer] : (row[outer] || {})[inner];
  return shown(value);
}

function table(rows) {
  const columns = columnsOf(rows);
  let order = { column: null, up: true };
  const body = el("tbody");
  const head = el("tr");
  const fill = () => {
    const sorted = [...rows];
    if (order.column) {
      sorted.sort((a, b) => {
        const x = cell(a, order.column);
        const y = cell(b, order.column);
        const n = Number(x) - Number(y);
        const result = Number.isNaN(n) || x === "" || y === "" ? x.localeCompare(y) : n;
        return order.up ? result : -result;
      });
    }
    body.replaceChildren(
      ...sorted.map((row) => el("tr", {}, columns.map((c) => el("td", { text: cell(row, c) })))),
    );
    for (const th of head.children) {
      const current = th.dataset.column === order.column;
      th.setAttribute("aria-sort", current ? (order.up ? "ascending" : "descending") : "none");
    }
  };
  for (const column of columns) {
    head.append(
      el("th", { scope: "col", "data-column": column },
        el("button", {
          type: "button",
          text: column,
          onclick: () => {
            order = { column, up: order.column === column ? !order.up : true };
            fill();
          },
        })),
    );
  }
  fill();
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), body));
}

function messageView(message, data) {
  const parts = [el("h3", { text: message.subject || "(no subject)" })];
  parts.push(pairs({
    From: message.from,
    To: message.to,
    Cc: message.cc,
    Date: message.date,
    "Message-ID": message.messageId,
  }));
  if (message.text) {
    parts.push(el("h4", { text: "Text" }), el("pre", { class: "message-text", tabindex: "0", text: message.text }));
  }
  if (message.html) {
    parts.push(
      el("h4", { text: "HTML" }),
      el("p", { class: "help", text: "Shown without scripts; remote images and other remote content are blocked." }),
      el("iframe", {
        class: "message-html",
        title: "The message's HTML",
        sandbox: "", // no scripts, no forms, no navigation of this page
        referrerpolicy: "no-referrer",
        srcdoc: previewDocument(message.html),
      }),
    );
  }
  const attachments = message.attachments || [];
  if (attachments.length) {
    parts.push(el("h4", { text: "Attachments" }));
    parts.push(el("ul", { class: "attachments" }, attachments.map((a) => el("li", {}, attachmentButton(a, data)))));
  }
  return el("div", { class: "message-view" }, parts);
}

function previewDocument(html) {
  // The frame inherits this page's policy too; this one also forbids remote images.
  const policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
  return `<!doctype html><meta http-equiv="Content-Security-Policy" content="${policy}">${html}`;
}

function attachmentButton(attachment, data) {
  const name = attachment.filename || `part-${attachment.partId}`;
  const size = attachment.size !== undefined ? ` (${attachment.size} bytes)` : "";
  const content = attachment.content;
  if (!content || content.encoding !== "base64") {
    return el("span", { text: `${name}${size}: not inline (download it with its part ${attachment.partId})` });
  }
  return el("button", {
    type: "button",
    class: "quiet",
    text: `Download ${name}${size}`,
    onclick: () => {
      const bytes = Uint8Array.from(atob(content.content), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], { type: attachment.contentType || "application/octet-stream" }));
      const link = el("a", { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    },
  });
}

// -- copy as ----------------------------------------------------------------------------------------

function withoutSecrets(body) {
  const copy = JSON.parse(JSON.stringify(body));
  const hide = (specs, values) => {
    for (const spec of specs || []) {
      if (spec.type === "password" && values && spec.key in values) values[spec.key] = `<${spec.key}>`;
    }
  };
  hide(studio.connection && studio.connection.inputs, copy.connection && copy.connection.fields);
  hide(studio.step && studio.step.spec.inputs, copy.inputs);
  return copy;
}

function updateCopy() {
  if (!studio.step) return;
  const { kind, spec } = studio.step;
  const body = withoutSecrets(requestBody());
  const json = JSON.stringify(body, null, 2);
  const url = `${location.origin}${stepPath(kind, spec.key)}`;
  $("copy-body").value = json;
  $("copy-curl").value = [
    `curl -sS -X POST '${url}' \\`,
    `  -H "Authorization: Bearer $CONNECTOR_SERVICE_TOKEN" \\`,
    "  -H 'Content-Type: application/json' \\",
    `  -d '${JSON.stringify(body).replace(/'/g, "'\\''")}'`,
  ].join("\n");
}

async function copy(button) {
  const text = $(button.dataset.copy).value;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    $(button.dataset.copy).select();
    button.textContent = "Selected: press Ctrl+C";
  }
}

document.addEventListener("input", (event) => {
  if (event.target.closest && event.target.closest("#step-form, #connection-form")) updateCopy();
});
document.addEventListener("DOMContentLoaded", start);
