function csrfToken(root2 = document) {
  const input = root2.querySelector("input[name=csrfmiddlewaretoken]");
  if (input && input.value) return input.value;
  const holder = root2.querySelector("[data-csrf]");
  if (holder && holder.dataset.csrf) return holder.dataset.csrf;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}
async function apiFetch(url, { method, body = null, keepalive = false, csrf } = {}) {
  const multipart = typeof FormData !== "undefined" && body instanceof FormData;
  const headers = { Accept: "application/json", "X-CSRFToken": csrf ?? csrfToken() };
  if (body !== null && !multipart) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method: method || (body === null ? "GET" : "POST"),
    credentials: "same-origin",
    keepalive,
    headers,
    body: body === null ? null : multipart ? body : JSON.stringify(body)
  });
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
  }
  if (data === null) data = response.ok ? {} : { detail: `${response.status} ${response.statusText}` };
  return { ok: response.ok, status: response.status, data };
}
const root = document.querySelector(".ws");
function api(url, { method = "GET", body = null } = {}) {
  return apiFetch(url, { method, body });
}
function messages(data) {
  if (!data) return ["The server did not answer; try again."];
  if (typeof data === "string") return [data];
  if (Array.isArray(data)) return data.flatMap(messages);
  const out = [];
  if (data.problems) {
    for (const p of data.problems) out.push(p.message ? `${p.message} (${p.step_title})` : String(p));
  }
  for (const [key, value] of Object.entries(data)) {
    if (key === "problems" || key === "missing") continue;
    const texts = typeof value === "object" && value !== null ? messages(value) : [String(value)];
    for (const t of texts) out.push(key === "detail" || key === "non_field_errors" ? t : `${key}: ${t}`);
  }
  return out;
}
function showErrors(form, data) {
  const box = form.querySelector(".ws-errors");
  if (!box) return;
  box.replaceChildren();
  const list = document.createElement("ul");
  for (const text of messages(data)) {
    const li = document.createElement("li");
    li.textContent = text;
    list.append(li);
  }
  box.append(list);
  box.hidden = false;
}
function clearErrors(form) {
  const box = form.querySelector(".ws-errors");
  if (box) {
    box.hidden = true;
    box.replaceChildren();
  }
}
function typed(input) {
  const type = input.dataset.type || "";
  const raw = input.value;
  if (type === "bool") return input.type === "checkbox" ? input.checked : raw === "true";
  if (type === "option") return input.checked ? raw : void 0;
  if (raw.trim() === "") return type === "csv" ? [] : type === "anchors" ? {} : type === "datetime" ? null : void 0;
  if (type === "int") return parseInt(raw, 10);
  if (type === "float") return parseFloat(raw);
  if (type === "json") return JSON.parse(raw);
  if (type === "csv") return raw.split(",").map((v) => v.trim()).filter(Boolean);
  if (type === "pairs") return raw.split(",").map((p) => p.split("|").map((a) => a.trim())).filter((p) => p[0]);
  if (type === "datetime") return (/* @__PURE__ */ new Date(raw + "Z")).toISOString();
  if (type === "anchors") {
    const out = {};
    for (const line of raw.split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return out;
  }
  return raw;
}
function setPath(target, name, value) {
  const parts = name.split(".");
  let here = target;
  for (const part of parts.slice(0, -1)) here = here[part] = here[part] || {};
  here[parts[parts.length - 1]] = value;
}
function jsonBody(form) {
  const body = {};
  const kind = form.querySelector("input[name=kind]:checked, select[name=kind]");
  for (const input of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (input.disabled || input.type === "radio" && !input.checked) continue;
    if (input.dataset.kinds && kind && !input.dataset.kinds.split(" ").includes(kind.value)) continue;
    if (input.dataset.type === "list") {
      body[input.name] = body[input.name] || [];
      if (input.checked) body[input.name].push(input.value);
      continue;
    }
    const value = typed(input);
    if (value === void 0 || value === "") continue;
    setPath(body, input.name, value);
  }
  if (form.dataset.merge) return mergeSettings(form, body);
  if (form.dataset.wrap === "rows") return { rows: [body] };
  if (form.dataset.wrap) return { [form.dataset.wrap]: body };
  return body;
}
function mergeSettings(form, body) {
  const stored = JSON.parse(document.getElementById(form.dataset.merge).textContent || "{}") || {};
  const merged = structuredClone(stored);
  for (const input of form.querySelectorAll("[name]")) {
    const parts = input.name.split(".");
    if (parts[0] === "items") {
      const [, key, field] = parts;
      merged.items = merged.items || {};
      const entry = { ...merged.items[key] || {} };
      const value = body.items && body.items[key] ? body.items[key][field] : void 0;
      if (value === void 0 || value === "") delete entry[field];
      else entry[field] = value;
      if (Object.keys(entry).length) merged.items[key] = entry;
      else delete merged.items[key];
    } else if (body[input.name] === void 0) {
      delete merged[input.name];
    } else {
      merged[input.name] = body[input.name];
    }
  }
  if (merged.items && !Object.keys(merged.items).length) delete merged.items;
  return { [form.dataset.wrap]: merged };
}
function presetsBody(form) {
  const presets = [];
  let initial = "";
  for (const row of form.querySelectorAll(".ws-preset-row")) {
    const field = (name2) => row.querySelector(`[name=${name2}]`).value.trim();
    const name = field("preset_name");
    const center = field("preset_center");
    const width = field("preset_width");
    if (!name && center === "" && width === "") continue;
    const number = (v) => v === "" ? null : Number(v);
    presets.push({ name, window_center: number(center), window_width: number(width) });
    if (row.querySelector("[name=preset_initial]").checked) initial = name;
  }
  return { presets, initial_preset: initial };
}
function multipartBody(form) {
  const data = new FormData();
  for (const input of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (input.type === "file") {
      if (input.files.length) data.append(input.name, input.files[0]);
    } else if (input.value.trim() !== "") data.append(input.name, input.value);
  }
  return data;
}
function status(form, text) {
  const el = form.querySelector(".ws-status");
  if (el) el.textContent = text;
}
async function follow(form, url, describe, onDone = null) {
  const box = form.querySelector(".ws-job");
  const bar = box.querySelector("progress");
  const text = box.querySelector(".ws-job-text");
  const fileErrors = box.querySelector(".ws-file-errors");
  box.hidden = false;
  for (; ; ) {
    const { ok, data } = await api(url);
    if (!ok) {
      showErrors(form, data);
      return;
    }
    bar.value = data.progress || 0;
    text.textContent = describe(data);
    if (data.state === "succeeded") {
      if (onDone) {
        onDone(data);
        return;
      }
      text.textContent += " Reloading…";
      setTimeout(() => location.reload(), 400);
      return;
    }
    if (data.state === "failed") {
      if (fileErrors) {
        fileErrors.replaceChildren();
        for (const e of data.errors || []) {
          const li = document.createElement("li");
          li.textContent = `${e.file}: ${e.problem}`;
          fileErrors.append(li);
        }
      }
      showErrors(form, { detail: data.error || "the job failed" });
      form.querySelector("button[type=submit]").disabled = false;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}
function renderPreview(data) {
  const target = document.querySelector(".ws-preview");
  target.replaceChildren();
  const intro = document.createElement("p");
  intro.textContent = `Design ${data.design.kind}, seed ${data.seed}. Nothing is written until you press “Write schedule”.`;
  target.append(intro);
  for (const reader of data.readers) {
    const h = document.createElement("h3");
    h.textContent = `${reader.reader}: ${reader.sessions.length} sessions, ${reader.reads} reads`;
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>Session</th><th>Reads</th><th>Per arm</th><th>Opens</th></tr></thead>";
    const tbody = document.createElement("tbody");
    for (const s of reader.sessions) {
      const tr = document.createElement("tr");
      const arms = Object.entries(s.per_arm).map(([arm, n]) => `${arm}: ${n}`).join(", ");
      for (const cell of [`${s.number}${s.is_training ? " (training)" : ""}`, String(s.reads), arms, s.opens]) {
        const td = document.createElement("td");
        td.textContent = cell;
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.append(tbody);
    target.append(h, table);
  }
  if (!data.readers.length) target.textContent = "No readers yet.";
}
async function submit(form, overrideUrl = null) {
  clearErrors(form);
  const multipart = form.dataset.body === "multipart";
  let body;
  try {
    body = form.dataset.method === "DELETE" ? null : multipart ? multipartBody(form) : form.dataset.body === "presets" ? presetsBody(form) : jsonBody(form);
  } catch (err) {
    showErrors(form, { detail: `could not read the form: ${err.message}` });
    return;
  }
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  const url = overrideUrl || form.dataset.api;
  const then = overrideUrl ? "written" : form.dataset.then || "reload";
  const { ok, data } = await api(url, { method: form.dataset.method || "POST", body });
  if (button) button.disabled = false;
  if (!ok) {
    showErrors(form, data);
    return;
  }
  if (form.dataset.redirect) {
    location.assign(form.dataset.redirect.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(data[key])));
  } else if (then === "saved") {
    status(form, "Saved.");
  } else if (then === "import") {
    if (button) button.disabled = true;
    follow(
      form,
      `/api/studies/${root.dataset.study}/imports/${data.public_id}/`,
      (job) => `${job.state}, ${job.progress}%${job.series_created ? `, ${job.series_created} series` : ""}${job.skipped && job.skipped.length ? `, ${job.skipped.length} skipped (${job.skipped.map((s) => `${s.series_description || "?"} ×${s.images}`).join(", ")})` : ""}.`
    );
  } else if (then === "recon") {
    if (button) button.disabled = true;
    follow(
      form,
      `/api/studies/${root.dataset.study}/recon-jobs/${data.public_id}/`,
      (job) => `${job.state}, ${job.progress}%${job.message ? `: ${job.message}` : ""}.`
    );
  } else if (then === "report") {
    if (button) button.disabled = true;
    follow(
      form,
      `/api/studies/${root.dataset.study}/reports/${data.public_id}/`,
      (job) => `${job.state}, ${job.progress}%${job.message ? `: ${job.message}` : ""}.`,
      (job) => {
        const list = form.querySelector(".ws-downloads");
        list.replaceChildren();
        for (const [fmt, href] of Object.entries(job.downloads || {})) {
          const li = document.createElement("li");
          const a = document.createElement("a");
          a.href = href;
          a.textContent = `Report (${fmt.toUpperCase()})`;
          a.setAttribute("download", "");
          li.append(a);
          list.append(li);
        }
        if (button) button.disabled = false;
      }
    );
  } else if (then === "preview") {
    renderPreview(data);
    document.getElementById("preview").scrollIntoView({ block: "start" });
  } else if (then === "written") {
    status(form, `Schedule written: ${data.sessions} sessions, ${data.reads} reads. Reloading…`);
    setTimeout(() => location.reload(), 600);
  } else if (then === "link") {
    const box = form.querySelector(".ws-link");
    const input = box.querySelector("input");
    input.value = data.url;
    box.hidden = false;
    input.focus();
    input.select();
  } else {
    location.reload();
  }
}
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form.ws-form");
  if (!form) return;
  event.preventDefault();
  submit(form);
});
document.addEventListener("click", async (event) => {
  const write = event.target.closest("button.ws-write");
  if (write) {
    submit(write.closest("form"), write.dataset.api);
    return;
  }
  const copy = event.target.closest("button.ws-copy");
  if (copy) {
    const input = copy.parentElement.querySelector("input");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Press Ctrl+C";
    }
    return;
  }
  const unblind = event.target.closest("button.ws-unblind");
  if (unblind) {
    const section = unblind.closest("section");
    const { ok, data } = await api(unblind.dataset.api);
    if (!ok) {
      showErrors(section, data);
      return;
    }
    const table = document.createElement("table");
    const columns = ["case", "sequence", "arm", "series_public_id", "blinded_series_instance_uid", "reads"];
    table.innerHTML = "<thead><tr>" + columns.map((c) => `<th>${c.replaceAll("_", " ")}</th>`).join("") + "</tr></thead>";
    const tbody = document.createElement("tbody");
    for (const row of data.series) {
      const tr = document.createElement("tr");
      for (const c of columns) {
        const td = document.createElement("td");
        td.textContent = String(row[c]);
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.append(tbody);
    section.querySelector(".ws-key").replaceChildren(table);
  }
});
