// The live part of the chat page: one WebSocket, Assistants v2 stream events in, frames out.
// Everything from the server is inserted as text, never as HTML.

const timeline = document.getElementById("timeline");
const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");
const connection = document.getElementById("connection");
const threadId = timeline.dataset.threadId;

let socket = null;
const outbox = []; // frames typed before the socket is open are sent once it is
let activeRun = timeline.dataset.activeRun || null;
let retryDelay = 500;
let followScroll = true;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function append(node) {
  document.getElementById("empty-hint")?.remove();
  timeline.appendChild(node);
  if (followScroll) node.scrollIntoView({ block: "end" });
}

function setBusy(runId) {
  activeRun = runId;
  const busy = Boolean(runId);
  input.disabled = busy;
  sendButton.hidden = busy;
  stopButton.hidden = !busy;
  if (!busy) input.focus();
}

function textOf(message) {
  return (message.content || []).map((part) => part.text?.value || "").join("");
}

function messageNode(message) {
  let node = timeline.querySelector(`[data-message-id="${message.id}"]`);
  if (!node) {
    node = el("li", `message message-${message.role}`);
    node.dataset.messageId = message.id;
    const bubble = el("div", "bubble");
    bubble.appendChild(el("p", "plain", textOf(message)));
    node.appendChild(bubble);
    append(node);
  }
  return node;
}

function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text || "";
  }
}

const STEP_LABELS = { in_progress: "Running…", completed: "Completed", failed: "Failed", cancelled: "Cancelled", expired: "Expired" };

function stepNode(step) {
  const call = step.step_details.tool_calls[0];
  let node = timeline.querySelector(`[data-step-id="${step.id}"]`);
  if (!node) {
    node = el("li", "tool-card");
    node.dataset.stepId = step.id;
    append(node);
  }
  node.className = `tool-card tool-${step.status}`;
  node.replaceChildren();
  const details = el("details");
  details.open = step.status === "in_progress";
  const summary = el("summary");
  summary.appendChild(el("span", "tool-name", call.function.name));
  if (step.metadata?.server) summary.append(" ", el("span", "muted", `on ${step.metadata.server}`));
  summary.append(" ", el("span", "tool-status", STEP_LABELS[step.status] || step.status));
  if (step.metadata?.duration_ms != null) summary.append(" ", el("span", "muted", `${step.metadata.duration_ms} ms`));
  details.appendChild(summary);
  details.appendChild(el("h4", "", "Arguments"));
  details.appendChild(el("pre", "tool-args", prettyJson(call.function.arguments)));
  if (step.last_error) {
    details.appendChild(el("h4", "", "Error"));
    details.appendChild(el("pre", "tool-error", step.last_error.message));
  } else if (call.function.output != null) {
    details.appendChild(el("h4", "", "Result"));
    details.appendChild(el("pre", "tool-output", call.function.output));
  }
  node.appendChild(details);
}

function runNote(run, text) {
  const node = el("li", `run-status run-${run.status}`);
  node.dataset.runId = run.id;
  node.appendChild(el("strong", "", text));
  if (run.last_error) node.append(`: ${run.last_error.message}`);
  else if (run.incomplete_details) node.append(`: ${run.incomplete_details.reason}`);
  append(node);
}

const handlers = {
  "thread.message.created": (m) => messageNode(m),
  "thread.message.delta": (d) => {
    const node = timeline.querySelector(`[data-message-id="${d.id}"] .plain`);
    if (node) node.textContent += d.delta.content.map((c) => c.text?.value || "").join("");
    if (followScroll) timeline.lastElementChild?.scrollIntoView({ block: "end" });
  },
  "thread.message.completed": (m) => {
    const node = messageNode(m).querySelector(".plain");
    if (node) node.textContent = textOf(m);
  },
  "thread.run.created": (r) => setBusy(r.id),
  "thread.run.step.created": (s) => s.type === "tool_calls" && stepNode(s),
  "thread.run.step.completed": (s) => s.type === "tool_calls" && stepNode(s),
  "thread.run.step.failed": (s) => s.type === "tool_calls" && stepNode(s),
  "thread.run.step.cancelled": (s) => s.type === "tool_calls" && stepNode(s),
  "thread.run.completed": () => setBusy(null),
  "thread.run.failed": (r) => { runNote(r, "Failed"); setBusy(null); },
  "thread.run.cancelled": (r) => { runNote(r, "Stopped"); setBusy(null); },
  "thread.run.expired": (r) => { runNote(r, "Expired"); setBusy(null); },
  "thread.run.incomplete": (r) => { runNote(r, "Incomplete"); setBusy(null); },
  error: (e) => {
    const node = el("li", "run-status run-error", e.message);
    node.setAttribute("role", "alert");
    append(node);
  },
};

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/conversations/${threadId}/`);
  connection.textContent = "Connecting…";
  socket.addEventListener("open", () => {
    connection.textContent = "";
    retryDelay = 500;
    while (outbox.length) socket.send(outbox.shift());
  });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    handlers[frame.event]?.(frame.data);
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4401 || event.code === 4404) {
      connection.textContent = "This conversation is not available.";
      return;
    }
    connection.textContent = "Reconnecting…";
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

function send(frame) {
  const text = JSON.stringify(frame);
  if (socket?.readyState === WebSocket.OPEN) socket.send(text);
  else outbox.push(text);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const content = input.value;
  if (!content.trim() || activeRun) return;
  send({ type: "message.create", content });
  input.value = "";
  input.style.height = "";
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

input.addEventListener("input", () => {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
});

stopButton.addEventListener("click", () => activeRun && send({ type: "run.cancel", run_id: activeRun }));

window.addEventListener("scroll", () => {
  followScroll = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
});

setBusy(activeRun);
connect();
