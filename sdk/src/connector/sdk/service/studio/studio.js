// The studio: every form is built from the served manifest (GET /v1/{connector}); every
// step runs through the service's own routes with the tab's bearer token. Text from the
// server or the user is only ever set as textContent (never parsed as HTML), and a
// message's HTML goes to a sandboxed frame without scripts. Results are shown with the
// manifest's output labels, formats and columns.
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
  controls: { conn: {}, step: {} }, // scope -> input key -> {spec, node, focus, get, set}
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
  $("edit-connection").addEventListener("click", () => expandConnection(true));
  $("fill-connection").addEventListener("click", fillConnection);
  $("run").addEventListener("click", run);
  $("reset-state").addEventListener("click", () => {
    if (studio.step) delete studio.states[studio.step.spec.key];
    showState();
  });
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", () => copy(button));
  }
  $("steps-menu").open = !window.matchMedia("(max-width: 820px)").matches;
  window.addEventListener("hashchange", () => pickFromHash({ focus: true }));
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
  pickFromHash({ focus: false }) || pick("action", (json.actions || [])[0], { focus: false });
}

// -- the connection --------------------------------------------------------------------------

const savedKey = () => `connector-studio-connection-${studio.connector}`;

function renderConnectionKinds() {
  const connections = studio.manifest.connections || [];
  const holder = $("connection-kind");
  holder.replaceChildren();
  const saved = savedConnection();
  if (connections.length > 1) {
    const select = el(
      "select",
      { id: "connection-key", onchange: () => renderConnection(select.value) },
      connections.map((c) => el("option", { value: c.key, text: c.label || c.key })),
    );
    holder.append(
      el("div", { class: "field" }, el("label", { for: "connection-key", text: "Kind" }), select),
    );
    if (saved && connections.some((c) => c.key === saved.key)) select.value = saved.key;
  }
  renderConnection((saved && saved.key) || (connections[0] && connections[0].key));
}

function renderConnection(key) {
  const connections = studio.manifest.connections || [];
  studio.connection = connections.find((c) => c.key === key) || connections[0];
  const form = $("connection-form");
  renderFields(form, studio.connection.inputs || [], "conn");
  $("connection-result").replaceChildren();
  if (studio.connection.description) {
    form.prepend(el("p", { class: "help field wide", text: studio.connection.description }));
  }
  const saved = savedConnection();
  if (saved && saved.key === studio.connection.key) setValues("conn", saved.fields);
  expandConnection(true, { focus: false });
}

function savedConnection() {
  try {
    return JSON.parse(sessionStorage.getItem(savedKey()) || "null");
  } catch {
    return null;
  }
}

function saveConnection() {
  // Kept for the tab, like the token; secrets never (they are typed again after a reload).
  const fields = collect("conn");
  for (const spec of studio.connection.inputs || []) {
    if (spec.type === "password") delete fields[spec.key];
  }
  sessionStorage.setItem(savedKey(), JSON.stringify({ key: studio.connection.key, fields }));
}

function connectionValue() {
  return { key: studio.connection.key, fields: collect("conn") };
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
  setValues("conn", fields);
  $("connection-json").setAttribute("aria-invalid", "false");
  error.textContent = unknown.length ? `Not fields of this connection: ${unknown.join(", ")}` : "";
  $("connection-json").value = ""; // it may hold a password: not kept on the page
  saveConnection();
  updateCopy();
}

function connectionWho() {
  // The connection in one line: its required fields that are not secret (host, user...).
  const fields = collect("conn");
  const parts = (studio.connection.inputs || [])
    .filter((s) => s.required && s.type !== "password" && fields[s.key] !== undefined)
    .map((s) => String(fields[s.key]));
  return parts.join(" · ") || studio.connection.label || "Connection";
}

function expandConnection(open, { focus = true } = {}) {
  $("connection-body").hidden = !open;
  $("connection-summary").hidden = open;
  if (!open) $("connection-who").textContent = connectionWho();
  if (open && focus) {
    const first = $("connection-form").querySelector("input, select, textarea");
    if (first) first.focus();
  }
}

async function testConnection() {
  clearErrors();
  const out = $("connection-result");
  out.replaceChildren(el("p", { text: "Testing…" }));
  const { json } = await api("POST", stepPath("testConnection"), { connection: connectionValue() });
  const schema = studio.connection.test && studio.connection.test.output
    ? studio.connection.test.output.schema : null;
  if (json.ok) {
    saveConnection();
    expandConnection(false);
    out.replaceChildren(
      el("details", { class: "tested" }, el("summary", { text: "What the server said" }),
        outcome(json, { schema, compact: true })),
    );
    loadPicklists();
  } else {
    out.replaceChildren(outcome(json, { compact: true }));
    markErrors(json.error);
  }
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
                if (location.hash === `#${kind}/${spec.key}`) pick(kind, spec, { focus: true });
                else location.hash = `${kind}/${spec.key}`;
              },
            }),
          ),
        ),
      ),
    );
  }
}

function pickFromHash({ focus }) {
  const [kind, key] = decodeURIComponent(location.hash.slice(1)).split("/");
  if (!KINDS[kind] || !studio.manifest) return false;
  const spec = (studio.manifest[KINDS[kind].table] || []).find((s) => s.key === key);
  if (!spec) return false;
  pick(kind, spec, { focus });
  return true;
}

function pick(kind, spec, { focus } = {}) {
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
  renderFields(form, spec.inputs || [], "step");
  if (!(spec.inputs || []).length) form.append(el("p", { class: "help", text: "No inputs." }));
  $("run").textContent = kind === "trigger" ? "Poll" : spec.destructive ? `${spec.label || "Run"}…` : "Run";
  $("run").classList.toggle("danger", Boolean(spec.destructive));
  $("run").disabled = false;
  $("trigger-state").hidden = kind !== "trigger";
  $("result").replaceChildren();
  showState();
  fillPicklists();
  updateCopy();
  if (focus) {
    if (window.matchMedia("(max-width: 820px)").matches) $("steps-menu").open = false;
    $("step-title").focus();
    $("step").scrollIntoView({ block: "start" });
  }
}

function showState() {
  if (!studio.step || studio.step.kind !== "trigger") return;
  const state = studio.states[studio.step.spec.key];
  $("state-view").textContent = state ? JSON.stringify(state, null, 2) : "{} (a first poll)";
}

function requestBody() {
  const { kind, spec } = studio.step;
  const body = { connection: connectionValue(), inputs: collect("step") };
  if (kind === "trigger") body.state = studio.states[spec.key] || {};
  return body;
}

function confirmed(spec) {
  // A destructive step asks first, in a dialog the keyboard and screen readers can use.
  const dialog = $("confirm");
  $("confirm-title").textContent = `${spec.label || spec.key}?`;
  const named = Object.entries(collect("step")).map(([k, v]) => `${labelOf(spec, k)}: ${v}`);
  $("confirm-text").textContent =
    `${spec.description || "This step changes data"}. It cannot be undone. ${named.join(", ")}`;
  $("confirm-run").textContent = spec.label || "Run";
  return new Promise((done) => {
    const finish = (answer) => {
      $("confirm-run").onclick = null;
      $("confirm-cancel").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      $("run").focus();
      done(answer);
    };
    $("confirm-run").onclick = () => finish(true);
    $("confirm-cancel").onclick = () => finish(false);
    dialog.onclose = () => finish(false);
    dialog.showModal();
  });
}

function labelOf(spec, key) {
  const input = (spec.inputs || []).find((i) => i.key === key);
  return input ? input.label || key : key;
}

async function run() {
  if (!studio.step) return;
  const { kind, spec } = studio.step;
  if (spec.destructive && !(await confirmed(spec))) return;
  clearErrors();
  const button = $("run");
  button.disabled = true;
  $("result").replaceChildren(el("p", { text: "Running…" }));
  const started = performance.now();
  const stateBefore = studio.states[spec.key];
  const { json } = await api("POST", stepPath(kind, spec.key), requestBody());
  const ms = Math.round(performance.now() - started);
  button.disabled = false;
  if (json.ok && kind === "trigger") {
    studio.states[spec.key] = json.state;
    showState();
  }
  if (json.ok && kind === "dataSource") studio.picklists[spec.key] = json.data;
  const schema = spec.output ? spec.output.schema : null;
  const firstPoll = kind === "trigger" && (!stateBefore || !Object.keys(stateBefore).length);
  const heading = el("h3", { id: "result-title", class: "result-title", tabindex: "-1",
    text: "Result" });
  $("result").replaceChildren(heading, outcome(json, { ms, kind, schema, firstPoll }));
  // The result renders below the form, often below the fold: bring it into view and move
  // the focus to its heading, so a keyboard or screen reader user continues from there.
  // (An error naming an input moves the focus on to that input, its message beside it.)
  heading.scrollIntoView({ block: "start" });
  heading.focus({ preventScroll: true });
  if (json.ok) {
    $("connection-result").querySelectorAll(".error-box").forEach((n) => n.remove());
    if (kind === "action") loadPicklists(); // (a step may have made or removed a choice)
  } else {
    markErrors(json.error);
  }
  updateCopy();
}

// -- fields --------------------------------------------------------------------------------------

function renderFields(form, specs, scope) {
  studio.controls[scope] = {};
  form.replaceChildren();
  const advanced = el("div", { class: "advanced-fields" });
  for (const spec of specs) {
    const made = field(spec, scope);
    (spec.advanced ? advanced : form).append(made);
  }
  if (advanced.children.length) {
    form.append(
      el("details", { class: "advanced field wide" }, el("summary", { text: "Advanced" }), advanced),
    );
  }
  applyConditions(scope);
}

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
  const labelText = [spec.label || spec.key,
    spec.required ? el("span", { class: "required-mark", "aria-hidden": "true", text: "*" }) : null];
  let made;
  if (spec.choices) made = choiceControl(spec, common);
  else if (spec.type === "boolean") made = switchControl(spec, common);
  else if (spec.type === "file") made = fileControl(spec, common);
  else if (spec.type === "list") made = listControl(spec, common, labelText);
  else if (spec.type === "object") made = objectControl(spec, common, labelText);
  else if (spec.dataSource) made = comboControl(spec, common);
  else made = plainControl(spec, common);
  const control = made; // (its focus may be a getter: not copied)
  control.spec = spec;
  studio.controls[scope][spec.key] = control;
  const wrapper = el("div", {
    class: `field${made.wide ? " wide" : ""}`,
    "data-field": spec.key,
  });
  if (made.group) {
    wrapper.append(made.node, help, error);
  } else if (spec.type === "boolean") {
    wrapper.append(el("div", { class: "switch" }, made.node, el("label", { for: id }, labelText)), help, error);
  } else {
    wrapper.append(el("label", { for: id }, labelText), made.node, help, error);
  }
  wrapper.addEventListener("input", () => fieldChanged(scope, spec.key));
  wrapper.addEventListener("change", () => fieldChanged(scope, spec.key));
  return wrapper;
}

function fieldChanged(scope, key) {
  const control = studio.controls[scope][key];
  if (control) {
    control.touched = true;
    unmark(control);
  }
  applyConditions(scope);
  if (scope === "conn") saveConnection();
  updateCopy();
}

function asText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function plainControl(spec, common) {
  const type = { integer: "number", number: "number", password: "password", date: "date" }[spec.type];
  const multi = spec.type === "text";
  const node = multi
    ? el("textarea", { ...common, rows: 4, spellcheck: "false" })
    : el("input", {
      ...common,
      type: type || "text",
      step: spec.type === "integer" ? "1" : spec.type === "number" ? "any" : null,
      autocomplete: spec.type === "password" ? "off" : null,
    });
  if (spec.type === "date-time" && !spec.placeholder) node.placeholder = "2024-05-01T09:30:00+02:00";
  const control = {
    node,
    focus: node,
    wide: multi,
    get: () => (node.value === "" ? undefined : node.value),
    set: (value) => { node.value = value === undefined || value === null ? "" : asText(value); },
  };
  control.set(spec.default);
  return control;
}

// A file input's value: {name, contentType, content (base64)}, as the runtime takes it.
function fileControl(spec, common) {
  const node = el("input", { ...common, type: "file", placeholder: null });
  node.addEventListener("change", () => {
    delete node.dataset.file;
    const file = node.files && node.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result); // data:TYPE;base64,CONTENT
      const content = url.slice(url.indexOf(",") + 1);
      const contentType = file.type || "application/octet-stream";
      node.dataset.file = JSON.stringify({ name: file.name, contentType, content });
      updateCopy();
    };
    reader.readAsDataURL(file);
  });
  return {
    node,
    focus: node,
    get: () => node.dataset.file || undefined,
    set: () => {}, // (a browser picks files only by the user's hand)
  };
}

function choiceControl(spec, common) {
  const node = el("select", common);
  if (!spec.required || spec.default === undefined) {
    node.append(el("option", { value: "", text: spec.required ? "Choose…" : "(none)" }));
  }
  for (const choice of spec.choices) {
    node.append(el("option", { value: asText(choice.value), text: choice.label || String(choice.value) }));
  }
  const control = {
    node,
    focus: node,
    get: () => (node.value === "" ? undefined : node.value),
    set: (value) => { node.value = value === undefined || value === null ? "" : asText(value); },
  };
  control.set(spec.default);
  return control;
}

function switchControl(spec, common) {
  const node = el("input", { ...common, type: "checkbox", role: "switch", required: null });
  const control = {
    node,
    focus: node,
    get: () => (node.checked || spec.default !== undefined || spec.required ? node.checked : undefined),
    set: (value) => { node.checked = value === true || value === "true"; },
  };
  control.set(spec.default);
  return control;
}

// A list as chips: type and press Enter (or a comma) to add; each chip has its remove
// button; suggestions (such as system flags) are checkboxes.
function listControl(spec, common, labelText) {
  const items = [];
  const suggestions = spec.suggestions || [];
  const chips = el("ul", { class: "chips", "aria-label": `${spec.label}: the items` });
  const input = el("input", {
    ...common,
    type: "text",
    "aria-label": null,
    placeholder: spec.placeholder || "Type, then Enter",
  });
  const boxes = suggestions.map((value) => el("input", {
    type: "checkbox",
    value,
    id: `${common.id}-pick-${value.replace(/[^A-Za-z0-9]/g, "")}`,
  }));
  const draw = () => {
    chips.replaceChildren(...items.filter((v) => !suggestions.includes(v)).map((value) =>
      el("li", { class: "chip" }, el("span", { text: value }), el("button", {
        type: "button",
        class: "chip-remove",
        "aria-label": `Remove ${value}`,
        text: "×",
        onclick: () => {
          items.splice(items.indexOf(value), 1);
          draw();
          input.dispatchEvent(new Event("input", { bubbles: true }));
          input.focus();
        },
      }))));
    for (const box of boxes) box.checked = items.includes(box.value);
  };
  const add = (text) => {
    const value = text.trim();
    if (value && !items.includes(value)) items.push(value);
    draw();
  };
  input.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === ",") && input.value.trim()) {
      event.preventDefault();
      add(input.value);
      input.value = "";
      input.dispatchEvent(new Event("input", { bubbles: true }));
    } else if (event.key === "Backspace" && !input.value && items.length) {
      items.pop();
      draw();
    }
  });
  for (const box of boxes) {
    box.addEventListener("change", () => {
      const at = items.indexOf(box.value);
      if (box.checked && at < 0) items.push(box.value);
      if (!box.checked && at >= 0) items.splice(at, 1);
    });
  }
  const picks = boxes.length
    ? el("div", { class: "picks", role: "group", "aria-label": `${spec.label}: common values` },
      boxes.map((box) => el("label", { class: "pick", for: box.id }, box, box.value)))
    : null;
  const node = el("fieldset", { class: "list-field" },
    el("legend", {}, labelText),
    picks,
    chips,
    el("label", { class: "sub-label", for: common.id, text: `${spec.label}: add a value` }),
    input);
  const control = {
    node,
    focus: input,
    group: true,
    wide: true,
    get: () => {
      const pending = input.value.trim();
      const all = pending && !items.includes(pending) ? [...items, pending] : items;
      return all.length || spec.default !== undefined || spec.required ? JSON.stringify(all) : undefined;
    },
    set: (value) => {
      let list = value;
      if (typeof list === "string") {
        try { list = JSON.parse(list); } catch { list = list ? [list] : []; }
      }
      items.splice(0, items.length, ...(Array.isArray(list) ? list.map(String) : []));
      input.value = "";
      draw();
    },
  };
  control.set(spec.default);
  return control;
}

// An object as key/value rows (filters), or as JSON for anything deeper.
function objectControl(spec, common, labelText) {
  const rows = el("div", { class: "kv-rows" });
  const json = el("textarea", {
    id: `${common.id}-json`, rows: 3, spellcheck: "false", class: "code", hidden: true,
    "aria-label": `${spec.label} as JSON`, placeholder: '{"key": "value"}',
  });
  let asJson = false;
  const addRow = (key = "", value = "") => {
    const n = rows.children.length + 1;
    const keyInput = el("input", { type: "text", "aria-label": `${spec.label}: name ${n}`, value: key, class: "kv-key" });
    const valueInput = el("input", { type: "text", "aria-label": `${spec.label}: value ${n}`, value, class: "kv-value" });
    const row = el("div", { class: "kv-row" }, keyInput, valueInput, el("button", {
      type: "button", class: "quiet", "aria-label": `Remove ${spec.label} row ${n}`, text: "×",
      onclick: () => { row.remove(); keyInput.dispatchEvent(new Event("input", { bubbles: true })); },
    }));
    rows.append(row);
    return keyInput;
  };
  const read = () => {
    const out = {};
    for (const row of rows.children) {
      const [key, value] = row.querySelectorAll("input");
      if (!key.value.trim()) continue;
      let parsed = value.value;
      try {
        const json = JSON.parse(value.value);
        if (typeof json !== "string") parsed = json; // numbers, true/false, lists, objects
      } catch { /* text as typed */ }
      out[key.value.trim()] = parsed;
    }
    return out;
  };
  const fill = (object) => {
    rows.replaceChildren();
    for (const [key, value] of Object.entries(object || {})) addRow(key, asText(value));
    if (!rows.children.length) addRow();
  };
  const toggle = el("button", {
    type: "button", class: "quiet", text: "Edit as JSON",
    onclick: () => {
      asJson = !asJson;
      if (asJson) json.value = JSON.stringify(read(), null, 1);
      else {
        try { fill(JSON.parse(json.value || "{}")); } catch { asJson = true; return; }
      }
      json.hidden = !asJson;
      rows.hidden = asJson;
      add.hidden = asJson;
      toggle.textContent = asJson ? "Edit as rows" : "Edit as JSON";
    },
  });
  const add = el("button", {
    type: "button", class: "quiet", text: "Add a row",
    onclick: () => addRow().focus(),
  });
  const node = el("fieldset", { class: "object-field", id: common.id,
    "aria-describedby": common["aria-describedby"] },
  el("legend", {}, labelText), rows, json, el("div", { class: "buttons" }, add, toggle));
  const control = {
    node,
    get focus() { return asJson ? json : rows.querySelector("input") || json; },
    group: true,
    wide: true,
    get: () => {
      if (asJson) return json.value.trim() || undefined;
      const value = read();
      return Object.keys(value).length ? JSON.stringify(value) : undefined;
    },
    set: (value) => {
      let object = value;
      if (typeof object === "string") {
        try { object = JSON.parse(object); } catch { object = {}; }
      }
      fill(object && typeof object === "object" && !Array.isArray(object) ? object : {});
    },
  };
  control.set(spec.default);
  return control;
}

// A searchable combobox filled by a data source (the ARIA 1.2 pattern): every choice
// shows on opening; typing filters.
function comboControl(spec, common) {
  const listId = `${common.id}-listbox`;
  const input = el("input", {
    ...common,
    type: "text",
    role: "combobox",
    autocomplete: "off",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": listId,
  });
  const list = el("ul", { id: listId, role: "listbox", class: "listbox", hidden: true,
    "aria-label": `${spec.label} choices`, "data-source": spec.dataSource });
  const toggle = el("button", {
    type: "button", class: "combo-toggle", tabindex: "-1", "aria-label": `Show ${spec.label} choices`,
    text: "▾", onclick: () => (list.hidden ? openList(true) : closeList()),
  });
  const note = el("p", { class: "help picklist-note", id: `${common.id}-picklist`,
    text: "Choices load once the connection is tested." });
  let filtering = false;
  let active = -1;
  const options = () => [...list.querySelectorAll("[role=option]")];
  const openList = (all) => {
    const choices = studio.picklists[spec.dataSource] || [];
    const typed = input.value.toLowerCase();
    const shown = choices.filter((c) => all || !filtering ||
      String(c.key).toLowerCase().includes(typed) || String(c.label || "").toLowerCase().includes(typed));
    list.replaceChildren(...shown.map((c, i) => el("li", {
      role: "option", id: `${listId}-${i}`, "data-value": String(c.key),
      "aria-selected": String(c.key) === input.value ? "true" : "false",
      text: c.label || String(c.key),
      onmousedown: (event) => { event.preventDefault(); choose(String(c.key)); },
    })));
    if (!shown.length) list.append(el("li", { class: "empty", text: choices.length ? "No match" : "No choices loaded" }));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  };
  const closeList = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  };
  const choose = (value) => {
    input.value = value;
    filtering = false;
    closeList();
    input.dispatchEvent(new Event("input", { bubbles: true }));
  };
  const move = (by) => {
    const all = options();
    if (!all.length) return;
    active = (active + by + all.length) % all.length;
    all.forEach((o, i) => o.classList.toggle("active", i === active));
    input.setAttribute("aria-activedescendant", all[active].id);
    all[active].scrollIntoView({ block: "nearest" });
  };
  input.addEventListener("input", (event) => {
    if (event.isTrusted) { filtering = true; openList(false); }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); if (list.hidden) openList(true); move(1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); move(-1); }
    else if (event.key === "Enter" && !list.hidden && active >= 0) {
      event.preventDefault();
      choose(options()[active].dataset.value);
    } else if (event.key === "Escape") closeList();
  });
  input.addEventListener("click", () => openList(!filtering));
  input.addEventListener("blur", () => setTimeout(closeList, 150));
  const node = el("div", { class: "combo" }, el("div", { class: "combo-row" }, input, toggle), list, note);
  const control = {
    node,
    focus: input,
    get: () => (input.value === "" ? undefined : input.value),
    set: (value) => { input.value = value === undefined || value === null ? "" : asText(value); filtering = false; },
    refresh: () => {
      const choices = studio.picklists[spec.dataSource];
      if (choices) note.textContent = `${choices.length} choices (type to filter, or ↓ for all).`;
      if (!list.hidden) openList(!filtering);
    },
  };
  control.set(spec.default);
  return control;
}

function setValues(scope, values) {
  for (const [key, value] of Object.entries(values || {})) {
    const control = studio.controls[scope][key];
    if (control) {
      control.set(value);
      control.touched = true;
    }
  }
  applyConditions(scope);
}

function collect(scope) {
  const values = {};
  for (const [key, control] of Object.entries(studio.controls[scope] || {})) {
    if (control.hidden) continue; // an input that does not apply (shownWhen)
    const value = control.get();
    if (value !== undefined) values[key] = value; // raw text, as a platform UI sends it
  }
  return values;
}

function current(scope, key) {
  const control = studio.controls[scope][key];
  if (!control) return undefined;
  const value = control.get();
  return value === undefined ? control.spec.default : value;
}

function same(value, wanted) {
  return String(value) === String(wanted);
}

function applyConditions(scope) {
  // shownWhen: a field that does not apply is hidden (and not sent); defaultWhen: a field
  // left alone follows the input its default depends on (Port follows Secure).
  for (const [key, control] of Object.entries(studio.controls[scope] || {})) {
    const when = control.spec.shownWhen;
    if (when) {
      const shown = Object.entries(when).every(([other, wanted]) => {
        const value = current(scope, other);
        return (Array.isArray(wanted) ? wanted : [wanted]).some((w) => same(value, w));
      });
      control.hidden = !shown;
      const wrapper = control.node.closest("[data-field]");
      if (wrapper) wrapper.hidden = !shown;
    }
    if (control.spec.defaultWhen && !control.touched) {
      const rule = control.spec.defaultWhen.find((r) =>
        Object.entries(r.when).every(([other, w]) => same(current(scope, other), w)));
      control.set(rule ? rule.value : control.spec.default);
    }
  }
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
  for (const scope of ["conn", "step"]) {
    for (const control of Object.values(studio.controls[scope] || {})) {
      if (control.refresh) control.refresh();
    }
  }
}

// -- errors at their fields ---------------------------------------------------------------------

function unmark(control) {
  const target = control.focus;
  target.setAttribute("aria-invalid", "false");
  const error = $(`${target.id}-error`) || control.node.closest("[data-field]").querySelector(".field-error");
  if (error) error.textContent = "";
}

function clearErrors() {
  for (const scope of ["conn", "step"]) {
    for (const control of Object.values(studio.controls[scope] || {})) unmark(control);
  }
}

function mark(control, message) {
  control.focus.setAttribute("aria-invalid", "true");
  const error = control.node.closest("[data-field]").querySelector(".field-error");
  if (error) error.textContent = message;
  const advanced = control.node.closest("details");
  if (advanced) advanced.open = true;
}

function mentioned(message, label) {
  // A label named in the error's text, as a word: "check Mailbox", "Username and Password".
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^A-Za-z])${escaped}([^A-Za-z]|$)`).test(message);
}

function markErrors(error) {
  // Every input the error names: by its details' paths, else by its label in the message
  // (connection fields too: the connection opens to show them).
  const marked = [];
  for (const detail of (error && error.details) || []) {
    const [where, key] = String(detail.path || "").split(".");
    const scope = where === "inputs" ? "step" : where === "connection" ? "conn" : null;
    const control = scope && key ? studio.controls[scope][key] : null;
    if (!control || control.hidden) continue;
    mark(control, detail.message || error.message);
    marked.push([scope, control]);
  }
  if (!marked.length && error && error.message) {
    for (const scope of ["step", "conn"]) {
      for (const control of Object.values(studio.controls[scope] || {})) {
        const label = control.spec.label || control.spec.key;
        if (control.hidden || !mentioned(error.message, label)) continue;
        mark(control, error.message);
        marked.push([scope, control]);
      }
    }
  }
  if (marked.some(([scope]) => scope === "conn")) expandConnection(true, { focus: false });
  if (marked.length) marked[0][1].focus.focus();
}

// -- what came back ------------------------------------------------------------------------------

function outcome(envelope, { ms, kind, compact, schema, firstPoll } = {}) {
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
    const records = Array.isArray(envelope.data) ? envelope.data.length : null;
    const count = records === null ? "" : ` · ${records} record${records === 1 ? "" : "s"}`;
    box.append(
      el("p", {}, el("span", { class: "ok-badge", text: "OK" }),
        ms !== undefined ? ` in ${ms} ms` : "", count,
        envelope.hasMore ? " · more to come: poll again" : ""),
    );
    if (firstPoll && records === 0) {
      box.append(el("p", { class: "note bookmark", text:
        "First poll: nothing is returned yet. The trigger noted where the source is now " +
        "(its state, below); what arrives from now on comes with the next poll." }));
    }
    box.append(view(envelope.data, schema, { compact, kind }));
  }
  box.append(
    el("details", {}, el("summary", { text: "Raw JSON" }),
      el("pre", { class: "raw", tabindex: "0", text: JSON.stringify(envelope, null, 2) })),
  );
  return box;
}

// The schema of a property (through anyOf / oneOf: the branch that is not null).
function branch(schema) {
  if (!schema || typeof schema !== "object") return {};
  const choices = schema.anyOf || schema.oneOf;
  if (choices) {
    const typed = choices.find((b) => b && b.type !== "null") || {};
    return { ...typed, ...schema, anyOf: undefined, oneOf: undefined };
  }
  return schema;
}

function propertyOf(schema, key) {
  const props = branch(schema).properties || {};
  return branch(props[key]);
}

function labelFor(schema, key) {
  return (schema && schema.label) || key;
}

function bytes(size) {
  // As people read sizes: 830 B, 12 KB, 1.2 MB (a unit of 1024 of the one below).
  if (typeof size !== "number") return String(size);
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  const shown = unit && value < 10 ? value.toFixed(1) : String(Math.round(value));
  return `${shown.replace(/\.0$/, "")} ${units[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function formatted(value, schema) {
  // A value as people read it: dates in local time, sizes in KB/MB, lists and addresses.
  const s = branch(schema);
  if (value === null || value === undefined) return "—";
  if (s.format === "date-time" && typeof value === "string") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : dateFormat.format(date);
  }
  if (s.unit === "bytes") return bytes(value);
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (Array.isArray(value)) {
    return value.map((v) => (v && typeof v === "object" && "address" in v
      ? (v.name ? `${v.name} <${v.address}>` : v.address)
      : typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function cellNode(value, schema) {
  // Lists of words (flags) as chips that never break inside a word; the rest as text.
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    return value.length
      ? el("ul", { class: "tags" }, value.map((v) => el("li", { text: v })))
      : el("span", { class: "none", text: "—" });
  }
  const s = branch(schema);
  const text = formatted(value, schema);
  const attributes = { text };
  if (s.format === "date-time" && typeof value === "string") attributes.title = value;
  if (s.type === "integer" || s.unit) attributes.class = "nowrap";
  return el("span", attributes);
}

function view(data, schema, options = {}) {
  const s = branch(schema);
  if (isRows(data)) return table(data, s, options);
  if (data && typeof data === "object" && !Array.isArray(data)) {
    const message = messageOf(data);
    const parts = [];
    const scalars = Object.entries(data).filter(([, v]) => !isRows(v) && v !== message && !isContent(v));
    if (scalars.length) parts.push(pairs(scalars, s, options));
    for (const [key, value] of Object.entries(data)) {
      if (isRows(value)) {
        const inner = propertyOf(s, key);
        parts.push(el("h3", { text: labelFor(inner, key) }), table(value, inner, options));
      }
    }
    if (message) parts.push(messageView(message, data, propertyOf(s, "message")));
    else for (const [key, value] of Object.entries(data)) {
      if (isContent(value)) parts.push(contentView(key, value, data, propertyOf(s, key)));
    }
    return el("div", {}, parts);
  }
  if (Array.isArray(data) && !data.length) return el("p", { class: "help", text: "Nothing." });
  return el("pre", { text: JSON.stringify(data, null, 2) });
}

function isRows(value) {
  return Array.isArray(value) && value.length > 0 &&
    value.every((row) => row && typeof row === "object" && !Array.isArray(row));
}

function isContent(value) {
  return value && typeof value === "object" && "encoding" in value && "content" in value &&
    Object.keys(value).length === 2;
}

function messageOf(data) {
  const looks = (m) => m && typeof m === "object" && ("text" in m || "html" in m) && "attachments" in m;
  if (looks(data.message)) return data.message;
  return null;
}

function pairs(entries, schema, { compact } = {}) {
  const list = el("dl", { class: "pairs" });
  for (const [key, value] of entries) {
    const inner = propertyOf(schema, key);
    let node;
    if (value && typeof value === "object" && !Array.isArray(value)) {
      node = pairs(Object.entries(value), inner, { compact }); // (tls: version, cipher)
    } else {
      node = cellNode(value, inner);
      if (compact && node.tagName === "SPAN" && node.textContent.length > 300) {
        node.textContent = `${node.textContent.slice(0, 300)}…`;
      }
    }
    list.append(el("dt", { text: labelFor(inner, key), title: key }), el("dd", {}, node));
  }
  return list;
}

function columnsOf(rows, schema) {
  // The manifest's columns first; else its labelled simple fields in order; at most 8.
  const items = branch(schema.items);
  const named = schema.columns || [];
  if (named.length) return named;
  const columns = [];
  for (const [key, prop] of Object.entries(items.properties || {})) {
    const p = branch(prop);
    if (p.type !== "object" && !(p.type === "array" && branch(p.items).type === "object")) columns.push(key);
  }
  if (!columns.length) {
    for (const row of rows.slice(0, 50)) {
      for (const [key, value] of Object.entries(row)) {
        if ((value === null || typeof value !== "object" || Array.isArray(value)) && !columns.includes(key)) {
          columns.push(key);
        }
      }
    }
  }
  return columns.slice(0, 8);
}

function columnSchema(items, column) {
  let s = branch(items);
  for (const part of column.split(".")) s = propertyOf(s, part);
  return s;
}

function valueAt(row, column) {
  return column.split(".").reduce((v, part) => (v && typeof v === "object" ? v[part] : undefined), row);
}

function sortKey(value, schema) {
  const s = branch(schema);
  if (value === null || value === undefined) return "";
  if (s.format === "date-time") return new Date(value).getTime() || 0;
  if (typeof value === "number") return value;
  return formatted(value, schema).toLowerCase();
}

function table(rows, schema) {
  const s = branch(schema);
  const items = branch(s.items);
  const columns = columnsOf(rows, s);
  let order = { column: null, up: true };
  const body = el("tbody", { role: "rowgroup" });
  const head = el("tr", { role: "row" });
  const fill = () => {
    const sorted = [...rows];
    if (order.column) {
      const cs = columnSchema(items, order.column);
      sorted.sort((a, b) => {
        const x = sortKey(valueAt(a, order.column), cs);
        const y = sortKey(valueAt(b, order.column), cs);
        const result = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return order.up ? result : -result;
      });
    }
    // Each cell also carries its column's label, shown only where a narrow screen lays
    // every row out as a card of label: value pairs (studio.css).
    body.replaceChildren(...sorted.map((row) => el("tr", { role: "row" }, columns.map((c, i) =>
      el("td", { role: "cell" }, el("span", { class: "cell-label", text: labels[i] }),
        cellNode(valueAt(row, c), columnSchema(items, c)))))));
    for (const th of head.children) {
      const on = th.dataset.column === order.column;
      th.setAttribute("aria-sort", on ? (order.up ? "ascending" : "descending") : "none");
      th.querySelector(".arrow").textContent = on ? (order.up ? "▲" : "▼") : "↕";
    }
  };
  const labels = columns.map((c) => labelFor(columnSchema(items, c), c.split(".").pop()));
  columns.forEach((column, i) => {
    const label = labels[i];
    head.append(
      el("th", { scope: "col", role: "columnheader", "data-column": column, title: column },
        el("button", {
          type: "button",
          onclick: () => {
            order = { column, up: order.column === column ? !order.up : true };
            fill();
          },
        }, label, el("span", { class: "arrow", "aria-hidden": "true" }))),
    );
  });
  fill();
  return el("div", { class: "table-wrap" }, el("table", { role: "table" },
    el("thead", { role: "rowgroup" }, head), body));
}

function messageView(message, data, schema) {
  const parts = [el("h3", { text: message.subject || "(no subject)" })];
  parts.push(pairs([
    ["from", message.from],
    ["to", message.to],
    ["cc", message.cc],
    ["date", message.date],
    ["messageId", message.messageId],
  ], schema));
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

function save(bytesOrText, name, type) {
  const url = URL.createObjectURL(new Blob([bytesOrText], { type: type || "application/octet-stream" }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function decoded(content) {
  if (content.encoding === "base64") return Uint8Array.from(atob(content.content), (c) => c.charCodeAt(0));
  return new TextEncoder().encode(content.content);
}

function contentView(key, content, data, schema) {
  // Bytes in the reply (a raw message, a body part): a button saves them as a file.
  const raw = key === "raw";
  const name = raw ? `message-${data.uid || "raw"}.eml` : data.filename || `${key}.bin`;
  const type = raw ? "message/rfc822" : data.contentType;
  const size = content.encoding === "base64" ? Math.floor(content.content.length * 3 / 4) : content.content.length;
  return el("p", {}, el("button", {
    type: "button",
    class: "quiet",
    text: `Download ${name} (${bytes(size)})`,
    onclick: () => save(decoded(content), name, type),
  }), ` ${labelFor(schema, key)}`);
}

function attachmentButton(attachment, data) {
  // Every attachment downloads: inlined bytes at once; a reference (not inlined) by running
  // this step again for its part, when the step takes one.
  const name = attachment.filename || `part-${attachment.partId}`;
  const size = attachment.size !== undefined ? ` (${bytes(attachment.size)})` : "";
  const content = attachment.content;
  const label = `Download ${name}${size}`;
  if (content && content.content !== undefined) {
    return el("button", {
      type: "button",
      class: "quiet",
      text: label,
      onclick: () => save(decoded(content), name, attachment.contentType),
    });
  }
  const step = studio.step && studio.step.spec;
  const takesPart = step && (step.inputs || []).some((i) => i.key === "part");
  if (!takesPart) return el("span", { text: `${name}${size}: not in this reply (part ${attachment.partId})` });
  const button = el("button", {
    type: "button",
    class: "quiet",
    text: label,
    onclick: async () => {
      button.disabled = true;
      const body = requestBody();
      body.inputs = { ...body.inputs, part: attachment.partId, format: "parsed" };
      const { json } = await api("POST", stepPath(studio.step.kind, step.key), body);
      button.disabled = false;
      const part = json.ok && json.data && json.data.part;
      if (part && part.content) save(decoded(part.content), name, attachment.contentType);
      else button.after(outcome(json, { compact: true }));
    },
  });
  return button;
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

document.addEventListener("DOMContentLoaded", start);
