// MCP Apps: the page's side of the postMessage bridge to a tool's view, the server's HTML in a sandboxed frame on its
// tool card (templates/chat/_entry.html). The frame has `sandbox="allow-scripts"` and no allow-same-origin, and its
// document is served with a CSP of its own (chat/views/steps.py, APP_CSP): it runs in an opaque origin, cannot touch this
// page, its cookies or its storage, reaches no network, and cannot navigate the page.
//
// The view speaks JSON-RPC over postMessage. The page answers only messages from a frame of a tool card (the
// event's source is that frame's window, its origin the opaque "null"), and of those only what the extension
// defines for showing a result:
//   ui/initialize (once per frame), ui/notifications/initialized (then the page sends the tool's input and result),
//   ui/notifications/size-changed (the frame's height, bounded), ping, and ui/request-display-mode (always inline).
// Every other request is refused with "method not found", and the page declares no host capability for them:
//   tools/call and resources/read would let the server's script act with the user's connection outside the run,
//   unseen and past the approval the server's tools may need; ui/message would speak in the user's name;
//   ui/update-model-context would steer the model unseen; ui/open-link and ui/download-file would hand the user
//   whatever the script picked. A view shows things; acting stays with the user and the run.
// Every other notification, and anything not JSON-RPC, is ignored.

const PROTOCOL_VERSION = "2026-01-26";
const HEIGHT_MIN = 48;
const HEIGHT_MAX = 800;
const METHOD_NOT_FOUND = -32601;

const views = new WeakMap(); // frame -> { initialized, ready }

function frameOf(source) {
  if (!source) return null;
  for (const frame of document.querySelectorAll(".tool-card iframe.tool-app-frame")) {
    if (frame.contentWindow === source) return frame;
  }
  return null;
}

// The view's origin is opaque, so no target origin can name it: the message goes to that frame's window alone.
function post(frame, message) {
  frame.contentWindow?.postMessage({ jsonrpc: "2.0", ...message }, "*");
}

function answer(frame, id, result) {
  post(frame, { id, result });
}

function refuse(frame, id, method) {
  post(frame, { id, error: { code: METHOD_NOT_FOUND, message: `Switchboard does not offer ${method} to a tool's view.` } });
}

function hostContext(frame) {
  const theme = document.documentElement.dataset.theme;
  const dark = theme === "dark" || (theme !== "light" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  return {
    toolInfo: { tool: { name: frame.closest(".tool-card")?.querySelector(".tool-name")?.textContent || "" } },
    theme: dark ? "dark" : "light",
    displayMode: "inline",
    availableDisplayModes: ["inline"],
    containerDimensions: { maxHeight: HEIGHT_MAX },
    locale: navigator.language,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    platform: "web",
  };
}

// After the handshake: the call's arguments, then its result, both from Switchboard (owner only).
async function sendCall(frame) {
  let context;
  try {
    const response = await fetch(frame.dataset.contextUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    context = await response.json();
  } catch {
    return;
  }
  post(frame, { method: "ui/notifications/tool-input", params: { arguments: context.arguments } });
  post(frame, { method: "ui/notifications/tool-result", params: context.result });
}

function request(frame, view, message) {
  const { id, method } = message;
  if (method === "ui/initialize" && !view.initialized) {
    view.initialized = true;
    const asked = message.params?.protocolVersion;
    answer(frame, id, {
      protocolVersion: typeof asked === "string" && asked === PROTOCOL_VERSION ? asked : PROTOCOL_VERSION,
      hostInfo: { name: "Switchboard", version: "1" },
      hostCapabilities: {},
      hostContext: hostContext(frame),
    });
  } else if (method === "ping") {
    answer(frame, id, {});
  } else if (method === "ui/request-display-mode" && view.initialized) {
    answer(frame, id, { mode: "inline" });
  } else {
    refuse(frame, id, method);
  }
}

function notification(frame, view, message) {
  if (message.method === "ui/notifications/initialized" && view.initialized && !view.ready) {
    view.ready = true;
    sendCall(frame);
  } else if (message.method === "ui/notifications/size-changed" && view.ready) {
    const height = Number(message.params?.height);
    if (Number.isFinite(height)) frame.style.height = `${Math.round(Math.min(HEIGHT_MAX, Math.max(HEIGHT_MIN, height)))}px`;
  }
}

window.addEventListener("message", (event) => {
  const frame = frameOf(event.source);
  if (!frame || event.origin !== "null") return;
  const message = event.data;
  if (!message || typeof message !== "object" || message.jsonrpc !== "2.0" || typeof message.method !== "string") return;
  let view = views.get(frame);
  if (!view) {
    view = { initialized: false, ready: false };
    views.set(frame, view);
  }
  const isRequest = typeof message.id === "string" || typeof message.id === "number";
  if (isRequest) request(frame, view, message);
  else notification(frame, view, message);
});
