// Files on a chat message: the Attach button and drops on the conversation upload each file at once (to the
// user's own files), show it as a chip in the composer, and the next message carries their ids (chat.js asks
// `window.chatAttachments.take()`). Images go to the model as images; other files are searched (file_search).
// The server renders the chips, thumbnails and cited files of sent messages; this fills in their file names.

const form = document.getElementById("composer");
const list = document.getElementById("attached");
const picker = document.getElementById("attach-input");
const attachButton = document.getElementById("attach");
const sendButton = document.getElementById("send");
const timeline = document.getElementById("timeline");
const uploadUrl = form.dataset.uploadUrl;
const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";

const names = new Map(); // file id → file name, for chips the server drew with the id only
const asked = new Set();
let uploading = 0;

function chip(name) {
  const item = document.createElement("li");
  item.className = "file-chip pending";
  const label = document.createElement("span");
  label.className = "file-name";
  label.textContent = name;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "file-remove";
  remove.textContent = "×";
  remove.setAttribute("aria-label", `Remove ${name}`);
  remove.addEventListener("click", () => {
    item.remove();
    list.hidden = !list.children.length;
  });
  item.append(label, " ", remove);
  return item;
}

function busy(delta) {
  uploading += delta;
  sendButton.disabled = uploading > 0; // a message waits for its files
}

async function upload(file) {
  const item = chip(file.name);
  item.setAttribute("aria-busy", "true");
  list.append(item);
  list.hidden = false;
  busy(1);
  try {
    const body = new FormData();
    body.append("file", file);
    const response = await fetch(uploadUrl, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken },
    });
    const data = await response.json().catch(() => ({ error: { message: `Upload failed (${response.status}).` } }));
    if (!response.ok) throw new Error(data.error?.message || `Upload failed (${response.status}).`);
    item.dataset.fileId = data.id;
    item.classList.remove("pending");
    names.set(data.id, data.filename);
  } catch (error) {
    item.classList.add("failed");
    item.classList.remove("pending");
    const note = document.createElement("span");
    note.className = "file-error";
    note.setAttribute("role", "alert");
    note.textContent = ` ${error.message}`;
    item.querySelector(".file-name").after(note);
  } finally {
    item.removeAttribute("aria-busy");
    busy(-1);
  }
}

function uploadAll(files) {
  for (const file of files) upload(file);
}

// A message waits for its files: no sending while one is still on its way (before chat.js hears the submit).
form.addEventListener(
  "submit",
  (event) => {
    if (!uploading) return;
    event.preventDefault();
    event.stopImmediatePropagation();
  },
  true,
);

attachButton.addEventListener("click", () => picker.click());
picker.addEventListener("change", () => {
  uploadAll(picker.files);
  picker.value = "";
});

// Drop files anywhere on the conversation.
const dropZone = document.querySelector("main") || document.body;
const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
dropZone.addEventListener("dragover", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dropZone.classList.add("dropping");
});
dropZone.addEventListener("dragleave", (event) => {
  if (event.target === dropZone) dropZone.classList.remove("dropping");
});
dropZone.addEventListener("drop", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dropZone.classList.remove("dropping");
  uploadAll(event.dataTransfer.files);
});

// The names of files in sent messages' chips (the server knows them by id there).
async function nameChips(root) {
  for (const label of root.querySelectorAll(".message-files .file-chip[data-file-id] .file-name")) {
    const fileId = label.closest("[data-file-id]").dataset.fileId;
    if (label.textContent !== fileId) continue;
    if (names.has(fileId)) {
      label.textContent = names.get(fileId);
      continue;
    }
    if (asked.has(fileId)) continue;
    asked.add(fileId);
    const response = await fetch(`${uploadUrl}${encodeURIComponent(fileId)}/`, { credentials: "same-origin" });
    if (!response.ok) continue;
    names.set(fileId, (await response.json()).filename);
    nameChips(timeline);
  }
}

// An answer's result markers (【0:1†notes.md】, what its file_citation annotations point at) read as numbered
// references to its sources, in the order those are listed under it.
const MARKER = /【\d+:\d+†([^】\n]*)】/g;

function markCitations(root) {
  for (const answer of root.querySelectorAll(".message-assistant")) {
    const sources = [...answer.querySelectorAll(".message-citations .cited")].map((link) => link.textContent);
    const body = answer.querySelector(".markdown");
    if (!body || !sources.length) continue;
    const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    const found = [];
    while (walker.nextNode()) if (walker.currentNode.data.includes("†")) found.push(walker.currentNode);
    for (const node of found) {
      const pieces = document.createDocumentFragment();
      let last = 0;
      for (const match of node.data.matchAll(MARKER)) {
        pieces.append(node.data.slice(last, match.index));
        const number = sources.indexOf(match[1]) + 1;
        const mark = document.createElement("sup");
        mark.className = "citation";
        mark.title = match[1];
        mark.textContent = number ? `[${number}]` : "[?]";
        pieces.append(mark);
        last = match.index + match[0].length;
      }
      pieces.append(node.data.slice(last));
      node.replaceWith(pieces);
    }
  }
}

function decorate() {
  nameChips(timeline);
  markCitations(timeline);
}

new MutationObserver(decorate).observe(timeline, { childList: true, subtree: true });
decorate();

window.chatAttachments = {
  // The ids of the files uploaded for the next message; the composer starts empty again.
  take() {
    const ids = [...list.querySelectorAll(".file-chip[data-file-id]")].map((item) => item.dataset.fileId);
    list.replaceChildren();
    list.hidden = true;
    return ids;
  },
};
