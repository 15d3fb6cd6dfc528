// The composer's picker of the assistant's MCP prompts and resources (GET/POST the conversation's /mcp/ URLs).
// A prompt, rendered by its server with the arguments typed here, fills the message box (each is offered with its
// slash command too: `/<server>:<prompt> arg=value` sent as a message fills the conversation with the prompt's
// messages); a resource is attached to the next message as a chip, and the server reads it for the model when the
// answer starts (chat.js asks `window.chatResources.take()`). Everything from a server is set as text, never as
// markup.

const button = document.getElementById("mcp-pick");
const dialog = document.getElementById("mcp-picker");
const input = document.getElementById("message-input");
const attached = document.getElementById("attached-resources");

// The slash command of a prompt: its required arguments, then its optional ones in brackets.
function slashCommand(prompt) {
  const args = prompt.arguments.map((a) => (a.required ? `${a.name}=…` : `[${a.name}=…]`));
  return [`/${prompt.server}:${prompt.name}`, ...args].join(" ");
}

function resourceChip(resource) {
  const item = document.createElement("li");
  item.className = "resource-chip";
  item.dataset.server = resource.server;
  item.dataset.uri = resource.uri;
  item.dataset.title = resource.title;
  item.title = `${resource.uri} from ${resource.server}`;
  const server = document.createElement("span");
  server.className = "resource-server";
  server.textContent = resource.server;
  const label = document.createElement("span");
  label.className = "resource-title";
  label.textContent = resource.title;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "file-remove";
  remove.textContent = "×";
  remove.setAttribute("aria-label", `Remove ${resource.title}`);
  remove.addEventListener("click", () => {
    item.remove();
    attached.hidden = !attached.children.length;
  });
  item.append(server, " ", label, " ", remove);
  return item;
}

window.chatResources = {
  // The resources attached to the next message; the composer starts empty again.
  take() {
    if (!attached) return [];
    const chips = [...attached.querySelectorAll(".resource-chip")];
    attached.replaceChildren();
    attached.hidden = true;
    return chips.map((chip) => ({ server: chip.dataset.server, uri: chip.dataset.uri, title: chip.dataset.title }));
  },
};

if (button && dialog && input && attached) {
  const status = dialog.querySelector("#mcp-picker-status");
  const promptList = dialog.querySelector("#mcp-prompts");
  const resourceList = dialog.querySelector("#mcp-resources");
  const promptForm = dialog.querySelector("#mcp-prompt-form");
  const promptFields = dialog.querySelector("#mcp-prompt-fields");
  const promptName = dialog.querySelector("#mcp-prompt-name");
  const templateList = dialog.querySelector("#mcp-templates");
  const templateForm = dialog.querySelector("#mcp-template-form");
  const templateFields = dialog.querySelector("#mcp-template-fields");
  const templateName = dialog.querySelector("#mcp-template-name");
  let chosenTemplate = null;
  const base = button.dataset.catalogUrl;
  let chosen = null;

  const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";

  async function call(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    };
    const response = await fetch(base + path, { credentials: "same-origin", ...options });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error?.message || `The server answered ${response.status}.`);
    return data;
  }

  function insert(text) {
    const before = input.value && !input.value.endsWith("\n") ? `${input.value}\n\n` : input.value;
    input.value = (before + text).slice(0, input.maxLength > 0 ? input.maxLength : undefined);
    input.dispatchEvent(new Event("input", { bubbles: true }));
    dialog.close();
    input.focus();
  }

  function item(list, label, detail, onChoose) {
    const li = document.createElement("li");
    const choose = document.createElement("button");
    choose.type = "button";
    choose.className = "link";
    choose.textContent = label;
    choose.addEventListener("click", onChoose);
    li.append(choose);
    if (detail) {
      const span = document.createElement("span");
      span.className = "muted";
      span.textContent = ` ${detail}`;
      li.append(span);
    }
    list.append(li);
  }

  async function usePrompt(prompt, args) {
    status.textContent = `Rendering ${prompt.title}…`;
    try {
      const rendered = await call("prompt", { server: prompt.server, name: prompt.name, arguments: args });
      insert(rendered.text);
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function choosePrompt(prompt) {
    if (!prompt.arguments.length) return usePrompt(prompt, {});
    chosen = prompt;
    promptName.textContent = `${prompt.title} (${prompt.server})`;
    promptFields.replaceChildren();
    for (const argument of prompt.arguments) {
      const label = document.createElement("label");
      label.textContent = argument.name + (argument.required ? "" : " (optional)");
      const field = document.createElement("input");
      field.name = argument.name;
      field.required = argument.required;
      field.maxLength = 2000;
      if (argument.description) field.placeholder = argument.description;
      label.append(field);
      promptFields.append(label);
    }
    promptForm.hidden = false;
    promptFields.querySelector("input")?.focus();
  }

  function chooseResource(resource) {
    const same = [...attached.querySelectorAll(".resource-chip")].some(
      (chip) => chip.dataset.server === resource.server && chip.dataset.uri === resource.uri,
    );
    if (!same) attached.append(resourceChip(resource));
    attached.hidden = false;
    dialog.close();
    input.focus();
  }

  // A template's variables ({name}, {+name}, {?a,b} …): each becomes a field, and its value goes in its place.
  const VARIABLE = /\{([+#./;?&]?)([^}]+)\}/g;

  function chooseTemplate(template) {
    chosenTemplate = template;
    templateName.textContent = `${template.title} (${template.server}) · ${template.uri_template}`;
    templateFields.replaceChildren();
    const names = [...template.uri_template.matchAll(VARIABLE)].flatMap((m) => m[2].split(",").map((n) => n.replace(/\*$/, "")));
    for (const name of new Set(names)) {
      const label = document.createElement("label");
      label.textContent = name;
      const field = document.createElement("input");
      field.name = name;
      field.required = true;
      field.maxLength = 500;
      label.append(field);
      templateFields.append(label);
    }
    templateForm.hidden = false;
    templateFields.querySelector("input")?.focus();
  }

  templateForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!chosenTemplate) return;
    const values = Object.fromEntries([...templateFields.querySelectorAll("input")].map((f) => [f.name, f.value]));
    const uri = chosenTemplate.uri_template.replace(VARIABLE, (_, operator, names) => {
      const parts = names.split(",").map((n) => n.replace(/\*$/, ""));
      if (operator === "?" || operator === "&") return operator + parts.map((n) => `${n}=${encodeURIComponent(values[n] || "")}`).join("&");
      const encode = operator === "+" || operator === "#" ? encodeURI : encodeURIComponent;
      return (operator === "+" ? "" : operator) + parts.map((n) => encode(values[n] || "")).join(",");
    });
    chooseResource({ server: chosenTemplate.server, uri, title: uri });
  });

  promptForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!chosen) return;
    const args = {};
    for (const field of promptFields.querySelectorAll("input")) if (field.value) args[field.name] = field.value;
    usePrompt(chosen, args);
  });

  button.addEventListener("click", async () => {
    promptList.replaceChildren();
    resourceList.replaceChildren();
    templateList.replaceChildren();
    promptForm.hidden = true;
    templateForm.hidden = true;
    status.textContent = "Asking the assistant's servers…";
    dialog.showModal();
    try {
      const catalog = await call("");
      for (const prompt of catalog.prompts) item(promptList, prompt.title, `${slashCommand(prompt)} · ${prompt.description}`, () => choosePrompt(prompt));
      for (const resource of catalog.resources) item(resourceList, resource.title, `${resource.server} · ${resource.uri}`, () => chooseResource(resource));
      for (const template of catalog.templates || []) item(templateList, template.title, `${template.server} · ${template.uri_template}`, () => chooseTemplate(template));
      const missing = catalog.unavailable.map((entry) => `${entry.server}: ${entry.error}`).join("; ");
      const found = catalog.prompts.length + catalog.resources.length + (catalog.templates || []).length;
      status.textContent = (found ? "" : "The assistant's servers offer no prompts or resources. ") + (missing ? `Unavailable: ${missing}` : "");
    } catch (error) {
      status.textContent = error.message;
    }
  });
}
