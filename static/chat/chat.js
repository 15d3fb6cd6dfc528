// The live part of the chat page: one WebSocket, Assistants v2 stream events in, frames out.
// Text from users, models and tools is inserted with textContent, never as HTML; the one exception is
// `content_html`, the server's nh3-sanitized rendering of an assistant message's Markdown.
// Keep the markup in step with templates/chat/conversation_detail.html: a snapshot redraws the page with it.

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
const threadId = timeline.dataset.threadId;

const STEP_LABELS = { in_progress: "Running…", completed: "Completed", failed: "Failed", cancelled: "Cancelled", expired: "Expired" };
const RUN_LABELS = { failed: "Failed", cancelled: "Stopped", expired: "Expired", incomplete: "Incomplete" };
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
  pendingCalls: new Map(), // tool_call_id -> run_id, while the run waits for a decision
};

// --- DOM helpers -----------------------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
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

function textOf(message) {
  return (message.content || []).map((part) => part.text?.value || "").join("");
}

function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text || "";
  }
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

function messageEl(message) {
  const node = el("li", `message message-${message.role}`);
  node.dataset.messageId = message.id;
  node.dataset.sig = message.status;
  const bubble = el("div", "bubble");
  if (message.role === "assistant" && message.status !== "in_progress" && message.content_html !== undefined) {
    const markdown = el("div", "markdown");
    markdown.innerHTML = message.content_html; // sanitized by nh3 on the server
    enhanceCode(markdown);
    bubble.appendChild(markdown);
  } else {
    const live = message.role === "assistant" && message.status === "in_progress";
    bubble.appendChild(el("p", live ? "plain streaming" : "plain", textOf(message)));
  }
  node.appendChild(bubble);
  return node;
}

function approvalEl(runId, callId) {
  const box = el("div", "approval");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "Approve this tool call?");
  box.append(el("span", "", "Run this tool call?"), " ");
  for (const [action, label, className] of [["approve", "Approve", "primary"], ["deny", "Deny", ""]]) {
    const button = el("button", className, label);
    button.type = "button";
    button.dataset.action = action;
    button.dataset.runId = runId;
    button.dataset.callId = callId;
    box.append(button, " ");
  }
  return box;
}

function stepEl(step) {
  const call = step.step_details.tool_calls[0];
  const pendingRun = state.pendingCalls.get(call.id);
  const node = el("li", `tool-card tool-${step.status}`);
  node.dataset.stepId = step.id;
  node.dataset.callId = call.id || "";
  node.dataset.sig = pendingRun ? `${step.status}:pending` : step.status;
  const details = el("details");
  details.open = step.status === "in_progress";
  const summary = el("summary");
  summary.appendChild(el("span", "tool-name", call.function.name));
  if (step.metadata?.server) summary.append(" ", el("span", "muted", `on ${step.metadata.server}`));
  const label = pendingRun ? "Waiting for approval" : STEP_LABELS[step.status] || step.status;
  summary.append(" ", el("span", "tool-status", label));
  if (step.metadata?.duration_ms != null) summary.append(" ", el("span", "muted", `${step.metadata.duration_ms} ms`));
  details.appendChild(summary);
  details.append(el("h4", "", "Arguments"), el("pre", "tool-args", prettyJson(call.function.arguments)));
  if (step.last_error) {
    details.append(el("h4", "", "Error"), el("pre", "tool-error", step.last_error.message));
  } else if (call.function.output) {
    details.append(el("h4", "", "Result"), el("pre", "tool-output", call.function.output));
  }
  node.appendChild(details);
  if (pendingRun) node.appendChild(approvalEl(pendingRun, call.id));
  node.step = step; // kept to redraw the card when its approval state changes
  return node;
}

function runEl(run) {
  const node = el("li", `run-status run-${run.status}`);
  node.dataset.runId = run.id;
  node.dataset.sig = run.status;
  node.appendChild(el("strong", "", RUN_LABELS[run.status] || run.status));
  if (run.last_error) node.append(`: ${run.last_error.message}`);
  else if (run.incomplete_details) node.append(`: ${run.incomplete_details.reason}`);
  return node;
}

function upsert(node) {
  document.getElementById("empty-hint")?.remove();
  const key = keyOf(node);
  const old = [...timeline.children].find((child) => keyOf(child) === key);
  if (old) old.replaceWith(node);
  else timeline.appendChild(node);
  contentAdded();
  return node;
}

function emptyHint() {
  const hint = el("li", "empty muted", "Say hello. With the demo assistant, try /tools or /draw_dot.");
  hint.id = "empty-hint";
  return hint;
}

// Redraw from the server's snapshot, keeping nodes that did not change so screen readers are not
// read the whole conversation again and open tool cards stay open.
function renderSnapshot(snapshot) {
  state.pendingCalls.clear();
  const active = snapshot.active_run;
  if (active?.status === "requires_action") {
    for (const call of active.required_action?.submit_tool_outputs?.tool_calls || []) state.pendingCalls.set(call.id, active.id);
  }
  const nodes = snapshot.timeline.map(({ kind, data }) => (kind === "message" ? messageEl(data) : kind === "step" ? stepEl(data) : runEl(data)));
  if (!nodes.length) nodes.push(emptyHint());
  const existing = new Map([...timeline.children].map((child) => [keyOf(child), child]));
  const final = nodes.map((node) => {
    const old = existing.get(keyOf(node));
    if (!old || old.dataset.sig !== node.dataset.sig) return node;
    old.step = node.step;
    if (node.querySelector(".streaming")) old.replaceWith(node); // live text: the server's copy wins
    return old.isConnected ? old : node;
  });
  final.forEach((node, index) => {
    const current = timeline.children[index];
    if (current !== node) timeline.insertBefore(node, current || null);
  });
  while (timeline.children.length > final.length) timeline.lastElementChild.remove();
  for (const call of state.pendingCalls.keys()) {
    if (!find(`[data-call-id="${CSS.escape(call)}"]`)) approvalFallback(active, call);
  }
  if (snapshot.title) {
    delete title.dataset.untitled;
    title.textContent = snapshot.title;
    document.title = `${snapshot.title} · Switchboard`;
  }
  state.hasUserMessage = snapshot.has_user_message;
  state.latestStatus = snapshot.latest_run?.status || null;
  setRun(active);
  enhanceCode(timeline);
  timeline.dataset.synced = "1";
  contentAdded();
}

function approvalFallback(run, callId) {
  // A paused call whose step card we never saw: draw a card from the run's own record of it.
  const call = run.required_action.submit_tool_outputs.tool_calls.find((c) => c.id === callId);
  const step = {
    id: `pending-${callId}`, run_id: run.id, status: "in_progress", metadata: {}, last_error: null,
    step_details: { tool_calls: [{ id: callId, function: { name: call.function.name, arguments: call.function.arguments } }] },
  };
  upsert(stepEl(step));
}

function redrawStepsFor(callIds) {
  for (const callId of callIds) {
    const node = find(`[data-call-id="${CSS.escape(callId)}"]`);
    if (node?.step) node.replaceWith(stepEl(node.step));
  }
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
  sendButton.hidden = busy;
  stopButton.hidden = !busy || active.status === "cancelling";
  indicator.hidden = !busy;
  if (busy) indicatorText.textContent = RUN_WORKING[active.status];
  const failed = state.latestStatus && state.latestStatus !== "completed";
  retryButton.hidden = busy || !state.hasUserMessage || !failed;
  regenerateButton.hidden = busy || !state.hasUserMessage || failed;
  if (wasBusy && !busy && (document.activeElement === document.body || document.activeElement === stopButton)) {
    input.focus({ preventScroll: true });
  }
}

function runEvent(run) {
  // At the end of a run, redraw from the server: it heals any drift and picks up the new title.
  if (state.activeRun && !ACTIVE.has(run.status)) send({ type: "thread.snapshot" });
  if (run.status !== "requires_action" && state.pendingCalls.size) {
    const calls = [...state.pendingCalls.keys()];
    state.pendingCalls.clear();
    redrawStepsFor(calls);
  }
  setRun(run);
}

function runEnded(run) {
  upsert(runEl(run));
  runEvent(run);
}

function requiresAction(run) {
  const calls = run.required_action?.submit_tool_outputs?.tool_calls || [];
  for (const call of calls) state.pendingCalls.set(call.id, run.id);
  for (const call of calls) {
    if (find(`[data-call-id="${CSS.escape(call.id)}"]`)) redrawStepsFor([call.id]);
    else approvalFallback(run, call.id);
  }
  setRun(run);
  contentAdded();
}

function showError(error) {
  const node = el("li", "run-status run-error", error.message);
  node.id = `error-${Date.now()}`;
  node.setAttribute("role", "alert");
  upsert(node);
}

const toolStep = (step) => step.type === "tool_calls" && upsert(stepEl(step));

const handlers = {
  "thread.snapshot": renderSnapshot,
  "thread.message.created": (message) => {
    if (message.role === "user") state.hasUserMessage = true;
    // The first message names the conversation on the server; fetch the name rather than guess it.
    if (message.role === "user" && title.dataset.untitled) send({ type: "thread.snapshot" });
    if (!find(`[data-message-id="${CSS.escape(message.id)}"]`)) upsert(messageEl(message));
  },
  "thread.message.in_progress": (message) => {
    if (!find(`[data-message-id="${CSS.escape(message.id)}"]`)) upsert(messageEl(message));
  },
  "thread.message.delta": (delta) => {
    let node = find(`[data-message-id="${CSS.escape(delta.id)}"] .streaming`);
    if (!node) {
      const message = { id: delta.id, role: "assistant", status: "in_progress", content: [] };
      node = upsert(messageEl(message)).querySelector(".streaming");
    }
    node.textContent += delta.delta.content.map((part) => part.text?.value || "").join("");
    contentAdded();
  },
  "thread.message.completed": (message) => upsert(messageEl(message)),
  "thread.message.incomplete": (message) => upsert(messageEl(message)),
  "thread.run.created": runEvent,
  "thread.run.queued": runEvent,
  "thread.run.in_progress": runEvent,
  "thread.run.cancelling": runEvent,
  "thread.run.requires_action": requiresAction,
  "thread.run.completed": runEvent,
  "thread.run.failed": runEnded,
  "thread.run.cancelled": runEnded,
  "thread.run.expired": runEnded,
  "thread.run.incomplete": runEnded,
  "thread.run.step.created": toolStep,
  "thread.run.step.in_progress": toolStep,
  "thread.run.step.completed": toolStep,
  "thread.run.step.failed": toolStep,
  "thread.run.step.cancelled": toolStep,
  "thread.run.step.expired": toolStep,
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
    // Ask for the whole state first: whatever happened while we were away is in it.
    socket.send(JSON.stringify({ type: "thread.snapshot" }));
    while (outbox.length) socket.send(outbox.shift());
  });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
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
  send({ type: "message.create", content });
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

timeline.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.action === "approve" || button.dataset.action === "deny") {
    for (const sibling of button.parentElement.querySelectorAll("button")) sibling.disabled = true;
    send({ type: `run.${button.dataset.action}`, run_id: button.dataset.runId, tool_call_id: button.dataset.callId });
  } else if (button.classList.contains("copy-code")) {
    const code = button.closest(".code-block").querySelector("pre").textContent;
    navigator.clipboard?.writeText(code).then(
      () => { button.textContent = "Copied"; },
      () => { button.textContent = "Copy failed"; },
    );
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  }
});

enhanceCode(timeline);
const initialRun = timeline.dataset.activeRun;
setRun(initialRun ? { id: initialRun, status: timeline.dataset.activeStatus } : null);
setConnection("connecting", "Connecting…");
connect();
contentAdded();
