// The live part of the chat page: one WebSocket, Assistants v2 stream events in, frames out.
// Every entry (a message, a tool card, a run's note) is markup the server rendered from one template
// (templates/chat/_entry.html) and sent with the event that adds or replaces it: the page inserts those
// fragments and appends streamed text with textContent. Text from users, models and tools is escaped by the
// server's template; an assistant's Markdown is sanitized there with nh3.

const timeline = document.getElementById("timeline");
const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");
const retryButton = document.getElementById("retry");
const regenerateButton = document.getElementById("regenerate");
const indicator = document.getElementById("run-indicator");
const indicatorText = document.getElementById("run-indicator-text");
const jumpButton = document.getElementById("jump");
const connection = document.getElementById("connection");
const title = document.getElementById("chat-title");
const olderButton = document.getElementById("older");
const threadId = timeline.dataset.threadId;

const RUN_WORKING = { queued: "Queued…", in_progress: "Working…", requires_action: "Waiting for your approval…", cancelling: "Stopping…" };
const ACTIVE = new Set(Object.keys(RUN_WORKING));

let socket = null;
const outbox = []; // frames typed while the socket is down are sent once it is open again
let retryDelay = 500;
let followScroll = true;
const state = {
  activeRun: null,
  activeStatus: null,
  latestStatus: timeline.dataset.latestStatus || null,
  hasUserMessage: timeline.dataset.hasUserMessage === "1",
  cursor: timeline.dataset.cursor || null, // the last entry known to be final: a resync asks for what follows
};

// --- DOM helpers -----------------------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function fragment(html) {
  const holder = document.createElement("template");
  holder.innerHTML = html; // rendered by the server's template: escaped text, nh3-sanitized Markdown
  return holder.content.firstElementChild;
}

function keyOf(node) {
  if (node.dataset.messageId) return `m:${node.dataset.messageId}`;
  if (node.dataset.stepId) return `s:${node.dataset.stepId}`;
  if (node.dataset.runId) return `r:${node.dataset.runId}`;
  return node.id || "";
}

function find(selector) {
  return timeline.querySelector(selector);
}

// --- Scrolling -------------------------------------------------------------------------------------------------

function atBottom() {
  return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
}

function contentAdded() {
  if (followScroll) window.scrollTo({ top: document.documentElement.scrollHeight });
  else jumpButton.hidden = false;
}

window.addEventListener("scroll", () => {
  followScroll = atBottom();
  if (followScroll) jumpButton.hidden = true;
}, { passive: true });

jumpButton.addEventListener("click", () => {
  followScroll = true;
  jumpButton.hidden = true;
  window.scrollTo({ top: document.documentElement.scrollHeight });
  input.focus({ preventScroll: true });
});

// --- Rendering -------------------------------------------------------------------------------------------------

function enhanceCode(root) {
  for (const head of root.querySelectorAll(".code-block > .code-head")) {
    if (head.querySelector(".copy-code")) continue;
    const button = el("button", "copy-code", "Copy");
    button.type = "button";
    button.setAttribute("aria-label", "Copy code");
    head.appendChild(button);
  }
}

// A running tool card counts the seconds since its call started. The server stamps the fragment with its own
// clock (data-now), so a page on a machine whose clock is off still counts from the right moment.
function tickElapsed() {
  const now = performance.now();
  for (const span of timeline.querySelectorAll(".tool-in_progress .tool-elapsed")) {
    if (!span.dataset.base) {
      span.dataset.base = String(Math.max(0, Number(span.dataset.now) - Number(span.dataset.started)));
      span.dataset.seen = String(now);
    }
    const seconds = Math.floor(Number(span.dataset.base) + (now - Number(span.dataset.seen)) / 1000);
    span.textContent = seconds >= 1 ? formatSeconds(seconds) : "";
  }
}

function formatSeconds(seconds) {
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
}

setInterval(tickElapsed, 1000);

function upsert(node) {
  document.getElementById("empty-hint")?.remove();
  const key = keyOf(node);
  const old = [...timeline.children].find((child) => keyOf(child) === key);
  if (old && old.dataset.sig === node.dataset.sig && !node.querySelector(".streaming")) return old;
  if (old) old.replaceWith(node);
  else timeline.appendChild(node);
  enhanceCode(node);
  contentAdded();
  return node;
}

function emptyHint() {
  const hint = el("li", "empty muted", "Say hello. With the demo assistant, try /tools or /draw_dot.");
  hint.id = "empty-hint";
  return hint;
}

function resync(after = state.cursor) {
  send({ type: "thread.resync", after: after || "" });
}

// Redraw the entries after `after` (all of them when it is null) from the server's answer, keeping nodes that
// did not change, so screen readers are not read the conversation again and open tool cards stay open.
function applyState(answer) {
  const children = [...timeline.children].filter((child) => child.id !== "empty-hint");
  let kept = [];
  if (answer.after) {
    const index = children.findIndex((child) => keyOf(child) === answer.after);
    if (index < 0) {
      resync(null); // the page lost the cursor's entry: ask for everything
      return;
    }
    kept = children.slice(0, index + 1);
  }
  const existing = new Map(children.map((child) => [keyOf(child), child]));
  const fresh = answer.entries.map(({ key, html }) => {
    const node = fragment(html);
    const old = existing.get(key);
    return old && old.dataset.sig === node.dataset.sig && !node.querySelector(".streaming") ? old : node;
  });
  const final = [...kept, ...fresh];
  if (!final.length) final.push(emptyHint());
  final.forEach((node, index) => {
    const current = timeline.children[index];
    if (current !== node) timeline.insertBefore(node, current || null);
  });
  while (timeline.children.length > final.length) timeline.lastElementChild.remove();
  if (answer.title) {
    delete title.dataset.untitled;
    title.textContent = answer.title;
    document.title = `${answer.title} · Switchboard`;
    const listed = document.querySelector("#sidebar-list a[aria-current=page]");
    if (listed) {
      listed.textContent = answer.title;
      listed.title = answer.title;
    }
  }
  if (!answer.after) showOlder(answer.older); // a whole timeline is its latest page
  state.cursor = answer.cursor;
  state.hasUserMessage = answer.has_user_message;
  state.latestStatus = answer.latest_run?.status || null;
  setRun(answer.active_run);
  enhanceCode(timeline);
  timeline.dataset.synced = "1";
  contentAdded();
}

function truncate({ after }) {
  // Another answer replaces what followed this message (regenerate, retry): drop it on every open page.
  const node = find(`[data-message-id="${CSS.escape(after)}"]`);
  if (!node) {
    resync(null);
    return;
  }
  while (node.nextElementSibling) node.nextElementSibling.remove();
  state.cursor = null; // what the page knew to be final may be gone: the next resync reads everything
}

// --- Run state -------------------------------------------------------------------------------------------------

function setRun(run) {
  const wasBusy = Boolean(state.activeRun);
  const active = run && ACTIVE.has(run.status) ? run : null;
  state.activeRun = active ? active.id : null;
  state.activeStatus = active ? active.status : null;
  if (run && !active) state.latestStatus = run.status;
  const busy = Boolean(active);
  input.disabled = busy;
  timeline.toggleAttribute("data-busy", busy); // no edits or other versions while an answer is written
  sendButton.hidden = busy;
  stopButton.hidden = !busy || active.status === "cancelling";
  indicator.hidden = !busy;
  if (busy) indicatorText.textContent = asksUser(active) ? "Waiting for your answer…" : RUN_WORKING[active.status];
  const failed = state.latestStatus && state.latestStatus !== "completed";
  retryButton.hidden = busy || !state.hasUserMessage || !failed;
  regenerateButton.hidden = busy || !state.hasUserMessage || failed;
  if (wasBusy && !busy && (document.activeElement === document.body || document.activeElement === stopButton)) {
    input.focus({ preventScroll: true });
  }
}

// A run waiting on a question one of its MCP servers asks during a tool call (the call's card holds the form).
function asksUser(run) {
  return run.status === "requires_action" && Boolean(run.required_action?.submit_tool_outputs?.tool_calls?.some((call) => call.elicitation));
}

function runEvent(run) {
  // At the end of a run, ask for what changed since the cursor: it heals any drift and picks up the new title.
  if (state.activeRun && !ACTIVE.has(run.status)) resync();
  if (run.status !== "requires_action") {
    for (const box of timeline.querySelectorAll(".approval")) box.remove(); // decided, or the run moved on
  }
  setRun(run);
  if (run.status === "requires_action") contentAdded();
}

// The text of the last message sent, until the server stores it: a refusal (a rate limit, a used-up budget)
// puts it back in the composer, so nothing typed is lost.
let unsent = null;

function showError(error) {
  if (unsent !== null && !input.value) {
    input.value = unsent;
    resizeInput();
  }
  unsent = null;
  // A refused answer to a server's question (a field out of range): the form is there to correct it.
  for (const control of timeline.querySelectorAll(".elicitation :disabled")) control.disabled = false;
  const node = el("li", "run-status run-error", error.message);
  node.id = `error-${Date.now()}`;
  node.setAttribute("role", "alert");
  upsert(node);
}

// --- Older history, a page at a time ------------------------------------------------------------------------

function showOlder(before) {
  olderButton.hidden = !before;
  olderButton.disabled = false;
  olderButton.dataset.before = before || "";
}

function prependOlder(answer) {
  const first = timeline.firstElementChild;
  if (!first || keyOf(first) !== answer.before) return; // the page was redrawn meanwhile
  // Keep the reader where they were: the page grows above them.
  const fromBottom = document.documentElement.scrollHeight - window.scrollY;
  for (const { html } of answer.entries) timeline.insertBefore(fragment(html), first);
  enhanceCode(timeline);
  window.scrollTo(0, document.documentElement.scrollHeight - fromBottom);
  showOlder(answer.older);
}

olderButton.addEventListener("click", () => {
  olderButton.disabled = true;
  send({ type: "thread.older", before: olderButton.dataset.before });
});

const handlers = {
  "thread.older": prependOlder,
  "thread.snapshot": applyState,
  "thread.resync": applyState,
  "thread.timeline.truncated": truncate,
  // Another version of a message is shown (an edit, the arrows): the whole branch is redrawn.
  "thread.branch.changed": () => {
    state.cursor = null;
    resync(null);
  },
  "thread.message.created": (message) => {
    if (message.role === "user") {
      state.hasUserMessage = true;
      unsent = null;
    }
    // The first message names the conversation on the server; fetch the name rather than guess it.
    if (message.role === "user" && title.dataset.untitled) resync();
  },
  "thread.message.deleted": (deleted) => find(`[data-message-id="${CSS.escape(deleted.id)}"]`)?.remove(),
  "thread.message.delta": (delta) => {
    const node = find(`[data-message-id="${CSS.escape(delta.id)}"] .streaming`);
    if (!node) {
      resync(); // a message this page never saw start: the server's copy fills it in
      return;
    }
    node.textContent += delta.delta.content.map((part) => part.text?.value || "").join("");
    contentAdded();
  },
  "thread.run.created": runEvent,
  "thread.run.queued": runEvent,
  "thread.run.in_progress": runEvent,
  "thread.run.cancelling": runEvent,
  "thread.run.requires_action": runEvent,
  "thread.run.completed": runEvent,
  "thread.run.failed": runEvent,
  "thread.run.cancelled": runEvent,
  "thread.run.expired": runEvent,
  "thread.run.incomplete": runEvent,
  error: showError,
};

// --- The socket ------------------------------------------------------------------------------------------------

function setConnection(status, text) {
  timeline.dataset.connection = status;
  connection.textContent = text;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/conversations/${threadId}/`);
  socket.addEventListener("open", () => {
    setConnection("open", "");
    retryDelay = 500;
    // Ask for what happened while we were away: the entries after the last one known to be final.
    socket.send(JSON.stringify({ type: "thread.resync", after: state.cursor || "" }));
    while (outbox.length) socket.send(outbox.shift());
  });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.entry) upsert(fragment(frame.entry.html));
    handlers[frame.event]?.(frame.data);
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4401 || event.code === 4404) {
      setConnection("closed", "This conversation is not available. Reload the page to log in again.");
      return;
    }
    const delay = retryDelay + Math.floor(Math.random() * 250);
    setConnection("reconnecting", `Connection lost, reconnecting in ${Math.ceil(delay / 1000)} s…`);
    setTimeout(connect, delay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

function send(frame) {
  const text = JSON.stringify(frame);
  if (socket?.readyState === WebSocket.OPEN) socket.send(text);
  else outbox.push(text);
}

// --- Controls --------------------------------------------------------------------------------------------------

function resizeInput() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, 240)}px`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const content = input.value;
  if (!content.trim() || state.activeRun) return;
  const fileIds = window.chatAttachments?.take() || []; // static/chat/attachments.js
  const resources = window.chatResources?.take() || []; // static/chat/mcp_picker.js
  send({
    type: "message.create",
    content,
    ...(fileIds.length ? { file_ids: fileIds } : {}),
    ...(resources.length ? { resources } : {}),
  });
  unsent = content;
  input.value = "";
  resizeInput();
  followScroll = true;
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

input.addEventListener("input", resizeInput);

stopButton.addEventListener("click", () => {
  if (!state.activeRun) return;
  send({ type: "run.cancel", run_id: state.activeRun });
  indicatorText.textContent = RUN_WORKING.cancelling;
});

retryButton.addEventListener("click", () => {
  retryButton.hidden = true;
  send({ type: "run.retry" });
});

regenerateButton.addEventListener("click", () => {
  regenerateButton.hidden = true;
  send({ type: "message.regenerate" });
});

// A function call's output, typed by the conversation's owner (what the API's caller would submit).
timeline.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-action=tool-output]");
  if (!form) return;
  event.preventDefault();
  for (const control of form.elements) control.disabled = true;
  send({ type: "run.tool_output", run_id: form.dataset.runId, tool_call_id: form.dataset.callId, output: form.elements.output.value });
});

// The answer to a question an MCP server asks during a tool call: the form's fields as the schema's types.
function elicitationContent(form) {
  const content = {};
  for (const control of form.querySelectorAll("[data-kind]")) {
    const kind = control.dataset.kind;
    if (kind === "choices") {
      const chosen = [...control.querySelectorAll("input:checked")].map((box) => box.value);
      if (chosen.length) content[control.dataset.name] = chosen;
    } else if (kind === "boolean") {
      content[control.name] = control.checked;
    } else if (control.value !== "") {
      if (kind === "number" || kind === "integer") content[control.name] = Number(control.value);
      else if (control.type === "datetime-local") content[control.name] = new Date(control.value).toISOString();
      else content[control.name] = control.value;
    }
  }
  return content;
}

function elicitationRespond(form, action) {
  const frame = { type: "elicitation.respond", run_id: form.dataset.runId, elicitation_id: form.dataset.elicitationId, action };
  if (action === "accept") frame.content = elicitationContent(form);
  for (const control of form.querySelectorAll("input, select, button")) control.disabled = true;
  send(frame);
}

timeline.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-action=elicitation]");
  if (!form) return;
  event.preventDefault();
  elicitationRespond(form, "accept");
});

timeline.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.action === "elicitation-decline" || button.dataset.action === "elicitation-cancel") {
    elicitationRespond(button.form, button.dataset.action.replace("elicitation-", ""));
  } else if (button.dataset.action === "approve" || button.dataset.action === "deny") {
    for (const sibling of button.parentElement.querySelectorAll("button")) sibling.disabled = true;
    send({ type: `run.${button.dataset.action}`, run_id: button.dataset.runId, tool_call_id: button.dataset.callId });
  } else if (button.classList.contains("copy-code")) {
    copy(button, button.closest(".code-block").querySelector("pre").textContent);
  } else if (button.dataset.action === "version" && button.dataset.messageId && !state.activeRun) {
    send({ type: "branch.select", message_id: button.dataset.messageId });
  } else if (button.dataset.action === "edit-message") {
    editStart(button.closest(".message"));
  } else if (button.dataset.action === "edit-cancel") {
    editEnd(button.closest(".message"));
  } else if (button.dataset.action === "copy-message") {
    // An answer copies as the Markdown it was written in; a question as its text.
    const message = button.closest(".message");
    const source = message.querySelector("template.message-source");
    copy(button, source ? source.content.textContent : message.querySelector(".bubble").textContent);
  }
});

// --- Edit a sent message and send it again (the old exchange stays, as another version) ---------------------

function editStart(message) {
  if (!message || message.querySelector(".edit-form") || state.activeRun) return;
  const bubble = message.querySelector(".bubble");
  const editor = el("form", "edit-form");
  editor.setAttribute("aria-label", "Edit the message");
  const area = el("textarea", "edit-input");
  area.value = bubble.textContent.trim();
  area.rows = Math.min(8, Math.max(2, area.value.split("\n").length));
  area.maxLength = input.maxLength;
  area.required = true;
  area.setAttribute("aria-label", "Edited message");
  const sendEdit = el("button", "primary", "Send");
  sendEdit.type = "submit";
  const cancel = el("button", null, "Cancel");
  cancel.type = "button";
  cancel.dataset.action = "edit-cancel";
  const actions = el("div", "edit-actions");
  actions.append(sendEdit, cancel);
  editor.append(area, actions);
  bubble.hidden = true;
  bubble.after(editor);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
}

function editEnd(message) {
  message?.querySelector(".edit-form")?.remove();
  const bubble = message?.querySelector(".bubble");
  if (bubble) bubble.hidden = false;
}

timeline.addEventListener("submit", (event) => {
  const editor = event.target.closest("form.edit-form");
  if (!editor) return;
  event.preventDefault();
  const content = editor.querySelector("textarea").value;
  if (!content.trim() || state.activeRun) return;
  for (const control of editor.elements) control.disabled = true;
  followScroll = true;
  send({ type: "message.edit", message_id: editor.closest(".message").dataset.messageId, content });
});

timeline.addEventListener("keydown", (event) => {
  const area = event.target.closest?.(".edit-input");
  if (!area) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    area.form.requestSubmit();
  } else if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    editEnd(area.closest(".message"));
  }
});

// --- The assistant that answers next: the header's switch posts itself once one is picked -------------------

const assistantSelect = document.getElementById("assistant-select");
if (assistantSelect) {
  document.getElementById("assistant-switch-button").hidden = true;
  assistantSelect.addEventListener("change", () => {
    if (assistantSelect.value) assistantSelect.form.requestSubmit();
  });
}

function copy(button, text) {
  const done = (ok) => {
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(text).then(() => done(true), () => done(false));
    return;
  }
  // Plain http on a LAN is not a secure context, so there is no clipboard API: copy through a selection.
  const area = el("textarea", "visually-hidden", text);
  document.body.appendChild(area);
  area.select();
  done(document.execCommand("copy"));
  area.remove();
  button.focus({ preventScroll: true });
}

// --- The conversation list and keyboard shortcuts --------------------------------------------------------------

const layout = document.getElementById("chat-layout");
const sidebar = document.getElementById("sidebar");
const sidebarToggle = document.getElementById("sidebar-toggle");
const sidebarSearch = document.getElementById("sidebar-q");
const shortcuts = document.getElementById("shortcuts");
const phone = window.matchMedia("(max-width: 760px)");

function sidebarShown() {
  return phone.matches ? layout.classList.contains("drawer-open") : !layout.classList.contains("sidebar-collapsed");
}

function showSidebar(show) {
  if (phone.matches) {
    layout.classList.toggle("drawer-open", show);
    if (show) sidebarSearch.focus({ preventScroll: true });
    else if (sidebar.contains(document.activeElement)) sidebarToggle.focus({ preventScroll: true });
  } else {
    layout.classList.toggle("sidebar-collapsed", !show);
    rememberSidebar(!show);
  }
  sidebarToggle.setAttribute("aria-expanded", String(sidebarShown()));
}

// Kept on the server with the user's preferences, so the next page is drawn folded or not from the start.
function rememberSidebar(collapsed) {
  const body = new FormData();
  body.append("collapsed", collapsed ? "1" : "0");
  body.append("csrfmiddlewaretoken", document.querySelector("#new-chat-form [name=csrfmiddlewaretoken]").value);
  fetch(layout.dataset.sidebarUrl, { method: "POST", body, credentials: "same-origin" }).catch(() => {});
}

sidebarToggle.setAttribute("aria-expanded", String(sidebarShown()));
phone.addEventListener("change", () => {
  layout.classList.remove("drawer-open");
  sidebarToggle.setAttribute("aria-expanded", String(sidebarShown()));
});
sidebarToggle.addEventListener("click", () => showSidebar(!sidebarShown()));
document.getElementById("sidebar-close").addEventListener("click", () => showSidebar(false));
document.getElementById("sidebar-backdrop").addEventListener("click", () => showSidebar(false));
document.getElementById("shortcuts-open").addEventListener("click", () => shortcuts.showModal());

function typing(target) {
  return target.closest?.("input, textarea, select, [contenteditable]") !== null;
}

document.addEventListener("keydown", (event) => {
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  if (shortcuts.open) return; // the dialog closes itself on Esc
  if (mod && event.shiftKey && key === "o") {
    event.preventDefault();
    const newChat = document.getElementById("new-chat");
    if (!newChat.disabled) newChat.click();
  } else if (mod && !event.shiftKey && key === "k") {
    event.preventDefault();
    if (!sidebarShown()) showSidebar(true);
    sidebarSearch.focus();
    sidebarSearch.select();
  } else if (mod && event.shiftKey && key === "s") {
    event.preventDefault();
    showSidebar(!sidebarShown());
  } else if (mod && key === "/") {
    event.preventDefault();
    shortcuts.showModal();
  } else if (event.key === "Escape" && event.shiftKey) {
    event.preventDefault();
    if (phone.matches) showSidebar(false);
    input.focus();
  } else if (event.key === "Escape") {
    if (phone.matches && sidebarShown()) showSidebar(false);
    else if (state.activeRun && !stopButton.hidden) stopButton.click();
    else if (document.activeElement === sidebarSearch) input.focus();
  } else if (event.key === "?" && !mod && !typing(event.target)) {
    event.preventDefault();
    shortcuts.showModal();
  }
});

enhanceCode(timeline);
const initialRun = timeline.dataset.activeRun;
setRun(initialRun ? { id: initialRun, status: timeline.dataset.activeStatus } : null);
setConnection("connecting", "Connecting…");
connect();
contentAdded();
