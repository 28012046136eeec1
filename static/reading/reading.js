function csrfToken(root = document) {
  const input = root.querySelector("input[name=csrfmiddlewaretoken]");
  if (input && input.value) return input.value;
  const holder = root.querySelector("[data-csrf]");
  if (holder && holder.dataset.csrf) return holder.dataset.csrf;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}
async function apiFetch(url, { method, body = null, keepalive = false, csrf: csrf2 } = {}) {
  const multipart = typeof FormData !== "undefined" && body instanceof FormData;
  const headers = { Accept: "application/json", "X-CSRFToken": csrf2 ?? csrfToken() };
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
const state = JSON.parse(document.getElementById("rd-state").textContent);
const form = document.getElementById("rd-form");
const saveLabel = document.getElementById("rd-save");
const missingBox = document.getElementById("rd-missing");
const problemsBox = document.getElementById("rd-problems");
const submitButton = document.getElementById("rd-submit");
const commentBox = document.getElementById("rd-comment");
const reasonBox = document.getElementById("rd-reason");
const csrf = csrfToken(form);
const items = new Map(state.items.map((item) => [item.key, item]));
const answers = /* @__PURE__ */ new Map();
const keyOf = (item, level = "") => `${item}|${level}`;
const submitted = !!state.submitted_at;
const revising = submitted && state.revisable;
const editable = !submitted || revising;
window.readingPage = { state, answers, viewer: null, saves: 0, heartbeats: 0 };
function endpoint(action) {
  return `/api/reader/reads/${encodeURIComponent(state.public_id)}/${action}/`;
}
function post(action, body, { keepalive = false } = {}) {
  return apiFetch(endpoint(action), { method: "POST", body, keepalive, csrf });
}
function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
const submissionKey = `rd-submission-${state.public_id}`;
const submissionId = sessionStorage.getItem(submissionKey) || randomId();
sessionStorage.setItem(submissionKey, submissionId);
function answerList() {
  return Array.from(answers.values());
}
function setSaveLabel(text, kind = "") {
  saveLabel.textContent = text;
  saveLabel.dataset.state = kind;
}
function render(itemKey, level = "") {
  const item = items.get(itemKey);
  if (!item) return;
  const answer = answers.get(keyOf(itemKey, level));
  const value = answer ? answer.value : null;
  if (item.kind === "checklist") {
    const cell = form.querySelector(`.rd-cell[data-item="${CSS.escape(itemKey)}"][data-level="${CSS.escape(level)}"]`);
    if (!cell) return;
    const cellState = cellStateOf(answer);
    cell.dataset.state = cellState;
    cell.setAttribute("aria-pressed", cellState === "present" ? "true" : "false");
    cell.textContent = CELL_TEXT[cellState];
    cell.setAttribute("aria-label", `${item.label} at ${level}: ${CELL_WORDS[cellState]}`);
    cell.classList.toggle("present", cellState === "present");
  } else if (item.kind === "numeric") {
    const input = form.querySelector(`input[type=number][data-item="${CSS.escape(itemKey)}"][data-level="${CSS.escape(level)}"]`);
    if (input && document.activeElement !== input) input.value = value == null ? "" : String(value);
  } else if (item.kind === "roi") {
    const box = form.querySelector(`[data-roi="${CSS.escape(itemKey)}"]`);
    const p = answer && answer.payload;
    if (box && p && p.mean != null) {
      const area = p.area_mm2 == null ? "" : ` · area ${p.area_mm2.toFixed(1)} mm²`;
      const side = state.layout !== "single" && p.side ? ` (${p.side})` : "";
      box.textContent = `mean ${Number(p.mean).toFixed(1)} · SD ${Number(p.sd).toFixed(1)}${area} · slice ${p.slice}${side}`;
    } else if (box) {
      box.textContent = "No ROI yet: choose ROI (E) and draw an ellipse on the image.";
    }
  } else {
    for (const radio of form.querySelectorAll(`input[type=radio][data-item="${CSS.escape(itemKey)}"][data-level="${CSS.escape(level)}"]`)) {
      radio.checked = value != null && Number(radio.value) === Number(value);
    }
  }
  const block = form.querySelector(`.rd-item[data-item="${CSS.escape(itemKey)}"][data-level="${CSS.escape(level)}"]`) || form.querySelector(`.rd-item[data-item="${CSS.escape(itemKey)}"]`);
  if (block) block.classList.toggle("answered", value != null);
}
const CELL_TEXT = { unanswered: "", present: "✓", absent: "–", na: "NA" };
const CELL_WORDS = { unanswered: "not answered", present: "present", absent: "absent", na: "not assessable" };
function cellStateOf(answer) {
  if (!answer) return "unanswered";
  if (answer.value === 1) return "present";
  if (answer.value === 0) return "absent";
  if (answer.payload && answer.payload.not_assessable) return "na";
  return "unanswered";
}
function describe(itemKey, level, answer) {
  const item = items.get(itemKey);
  if (!answer) return "—";
  if (item.kind === "checklist") return CELL_WORDS[cellStateOf(answer)];
  if (item.kind === "roi") return answer.payload && answer.payload.mean != null ? `ROI mean ${Number(answer.payload.mean).toFixed(1)}` : "—";
  return answer.value == null ? "—" : String(answer.value);
}
const pending = /* @__PURE__ */ new Map();
function noteChange(itemKey, level, before) {
  const k = keyOf(itemKey, level);
  if (!pending.has(k)) {
    const item = items.get(itemKey);
    const seq = level.startsWith("@") && item.per_sequence ? (item.per_sequence.find((p) => p.level === level) || {}).label : level;
    pending.set(k, { itemKey, level, label: item.label + (seq ? ` ${seq}` : ""), before: describe(itemKey, level, before) });
  }
}
function changeSummary(entries) {
  const parts = [];
  for (const [k, change] of entries) {
    const after = describe(change.itemKey, change.level, answers.get(k));
    if (after !== change.before) parts.push(`${change.label} ${change.before} → ${after}`);
  }
  if (parts.length > 3) return `${parts.slice(0, 3).join("; ")}; and ${parts.length - 3} more`;
  return parts.join("; ");
}
function flash(itemKey, level) {
  const el = level ? form.querySelector(`.rd-cell[data-item="${CSS.escape(itemKey)}"][data-level="${CSS.escape(level)}"]`) : form.querySelector(`.rd-item[data-item="${CSS.escape(itemKey)}"]`);
  if (!el) return;
  el.classList.remove("rd-changed");
  void el.offsetWidth;
  el.classList.add("rd-changed");
}
function setAnswer(itemKey, level, value, payload = {}) {
  if (!editable) return;
  const k = keyOf(itemKey, level);
  const before = answers.get(k);
  noteChange(itemKey, level, before);
  if (value === null && !(payload && Object.keys(payload).length)) answers.set(k, { item: itemKey, level, value: null, payload: {} });
  else answers.set(k, { item: itemKey, level, value, payload });
  render(itemKey, level);
  flash(itemKey, level);
  updateMissing();
  scheduleSave();
}
for (const answer of state.answers) {
  answers.set(keyOf(answer.item, answer.level), { ...answer });
}
for (const answer of answers.values()) render(answer.item, answer.level);
for (const item of state.items) {
  if (item.kind === "checklist") for (const level of item.levels) render(item.key, level);
}
let saveTimer = null;
let saving = false;
let dirty = false;
let submitting = false;
let closed = false;
function scheduleSave(delay = 600) {
  if (submitted) return;
  dirty = true;
  setSaveLabel("Unsaved changes…", "dirty");
  clearTimeout(saveTimer);
  saveTimer = setTimeout(saveDraft, delay);
}
async function saveDraft() {
  if (!dirty || submitting || submitted || closed) return;
  if (saving) {
    scheduleSave(300);
    return;
  }
  saving = true;
  dirty = false;
  setSaveLabel("Saving…", "saving");
  const sending = Array.from(pending.entries());
  pending.clear();
  try {
    const { ok, status, data } = await post("draft", { answers: answerList(), comment: commentBox.value });
    if (ok) {
      window.readingPage.saves += 1;
      const time = (/* @__PURE__ */ new Date()).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      const what = changeSummary(sending);
      setSaveLabel(`Saved ${time}${what ? ` · ${what}` : ""}`, "saved");
      window.readingPage.lastSaveNote = saveLabel.textContent;
    } else if (status === 400) {
      for (const [k, change] of sending) if (!pending.has(k)) pending.set(k, change);
      setSaveLabel("Not saved: see the message above the form", "error");
      showProblems(data.problems || [data.detail || "invalid answer"]);
    } else if (status === 404 || status === 403) {
      for (const [k, change] of sending) if (!pending.has(k)) pending.set(k, change);
      showClosed(data.detail);
    } else {
      setSaveLabel(`Not saved (${data.detail || status})`, "error");
      if (status >= 500) scheduleSave(3e3);
    }
  } catch (error) {
    setSaveLabel("Not saved: offline, retrying…", "error");
    scheduleSave(3e3);
  } finally {
    saving = false;
  }
}
window.addEventListener("pagehide", () => {
  if (dirty && !submitting && !submitted) {
    post("draft", { answers: answerList(), comment: commentBox.value }, { keepalive: true }).catch(() => {
    });
  }
});
const TICK_MS = 5e3;
const IDLE_AFTER_MS = 6e4;
let lastActivity = Date.now();
let activeSeconds = 0;
for (const type of ["keydown", "pointerdown", "pointermove", "wheel"]) {
  window.addEventListener(type, () => {
    lastActivity = Date.now();
  }, { passive: true, capture: true });
}
if (!submitted) {
  setInterval(() => {
    if (document.visibilityState === "visible" && Date.now() - lastActivity < IDLE_AFTER_MS) activeSeconds += TICK_MS / 1e3;
  }, TICK_MS);
  setInterval(async () => {
    if (activeSeconds <= 0 || submitting) return;
    const sent = activeSeconds;
    try {
      const { ok } = await post("heartbeat", { active_seconds: sent });
      if (ok) {
        activeSeconds -= sent;
        window.readingPage.heartbeats += 1;
      }
    } catch (error) {
    }
  }, 15e3);
  post("start", {}).catch(() => {
  });
}
function computeMissing() {
  const missing = [];
  for (const item of state.items) {
    if (!item.required) continue;
    if (item.per_sequence) {
      const open = item.per_sequence.filter((p) => {
        const a = answers.get(keyOf(item.key, p.level));
        return !a || a.value == null;
      });
      if (open.length) missing.push({ item: item.key, label: item.label, levels: open.map((p) => p.level), level_labels: open.map((p) => p.label) });
    } else if (item.kind === "checklist") {
      const levels = item.levels.filter((level) => cellStateOf(answers.get(keyOf(item.key, level))) === "unanswered");
      if (levels.length) missing.push({ item: item.key, label: item.label, levels });
    } else {
      const answer = answers.get(keyOf(item.key));
      const given = item.kind === "roi" ? answer && answer.payload && answer.payload.mean != null : answer && answer.value != null;
      if (!given) missing.push({ item: item.key, label: item.label, levels: [] });
    }
  }
  return missing;
}
let triedSubmit = false;
function showMissing(missing) {
  for (const el of form.querySelectorAll(".missing")) el.classList.remove("missing");
  missingBox.replaceChildren();
  missingBox.hidden = !missing.length || submitted && !revising;
  missingBox.classList.toggle("tried", triedSubmit);
  submitButton.dataset.missing = String(missing.length);
  if (!missing.length) return;
  const title = document.createElement("strong");
  title.textContent = `Still to answer (${missing.reduce((n, m) => n + Math.max(1, m.levels.length), 0)}):`;
  const list = document.createElement("ul");
  for (const m of missing) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#";
    link.dataset.item = m.item;
    const names = m.level_labels || m.levels;
    link.textContent = m.label + (names.length ? ` (${names.join(", ")})` : "");
    li.append(link);
    list.append(li);
    if (triedSubmit) {
      const blocks = m.level_labels ? m.levels.map((level) => form.querySelector(`.rd-item[data-item="${CSS.escape(m.item)}"][data-level="${CSS.escape(level)}"]`)) : [form.querySelector(`.rd-item[data-item="${CSS.escape(m.item)}"]`)];
      for (const block of blocks) if (block) block.classList.add("missing");
      for (const th of form.querySelectorAll(`th[data-item="${CSS.escape(m.item)}"]`)) th.classList.add("missing");
      for (const level of m.levels) {
        const cell = form.querySelector(`.rd-cell[data-item="${CSS.escape(m.item)}"][data-level="${CSS.escape(level)}"]`);
        if (cell) cell.classList.add("missing");
      }
    }
  }
  missingBox.append(title, list);
}
function updateMissing() {
  showMissing(computeMissing());
}
missingBox.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-item]");
  if (!link) return;
  event.preventDefault();
  focusItem(link.dataset.item);
});
updateMissing();
function showClosed(detail) {
  const box = document.getElementById("rd-closed");
  const reason = detail && detail !== "Not found." ? detail : "this read is no longer open to you";
  box.replaceChildren(`Reading is closed: ${reason}. Answers saved before are kept. `);
  const link = document.createElement("a");
  link.href = "/reading/";
  link.textContent = "Back to the worklist";
  box.append(link);
  box.hidden = false;
  setSaveLabel("Not saved: reading is closed", "error");
  submitButton.disabled = true;
  clearTimeout(saveTimer);
  closed = true;
}
function showProblems(lines, focusKey = null) {
  problemsBox.hidden = !lines.length;
  problemsBox.replaceChildren();
  const list = document.createElement("ul");
  for (const line of lines) {
    const li = document.createElement("li");
    li.textContent = line;
    list.append(li);
  }
  problemsBox.append(list);
  if (focusKey) focusItem(focusKey);
}
function focusItem(itemKey) {
  const missingCell = form.querySelector(`.rd-cell[data-item="${CSS.escape(itemKey)}"][data-state="unanswered"]`);
  const target = form.querySelector(`input[type=radio][data-item="${CSS.escape(itemKey)}"]:checked`) || form.querySelector(`input[data-item="${CSS.escape(itemKey)}"]`) || missingCell || form.querySelector(`.rd-cell[data-item="${CSS.escape(itemKey)}"]`) || form.querySelector(`.rd-item[data-item="${CSS.escape(itemKey)}"]`);
  if (target) {
    if (target.classList.contains("rd-cell")) moveCell(target);
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "nearest" });
  }
}
function nextUrl(nextRead) {
  return nextRead ? `/reading/reads/${encodeURIComponent(nextRead)}/` : `/reading/?finished=${state.session_number}`;
}
async function submit() {
  if (submitting || submitted && !revising) return;
  if (revising) return revise();
  const missing = computeMissing();
  if (missing.length) {
    triedSubmit = true;
    showMissing(missing);
    setSaveLabel(dirty ? saveLabel.textContent : "Not submitted: answers missing", dirty ? saveLabel.dataset.state : "error");
    focusItem(missing[0].item);
    return;
  }
  submitting = true;
  clearTimeout(saveTimer);
  submitButton.disabled = true;
  setSaveLabel("Submitting…", "saving");
  const body = { submission_id: submissionId, answers: answerList(), comment: commentBox.value, active_seconds: activeSeconds };
  let result = null;
  for (let attempt = 0; attempt < 4 && !result; attempt += 1) {
    try {
      result = await post("submit", body);
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1e3 * (attempt + 1)));
    }
  }
  submitting = false;
  submitButton.disabled = false;
  if (!result) {
    setSaveLabel("Not submitted: offline. Try again.", "error");
    return;
  }
  const { ok, status, data } = result;
  if (ok) {
    setSaveLabel("Submitted", "saved");
    sessionStorage.removeItem(submissionKey);
    window.location.assign(nextUrl(data.next_read));
    return;
  }
  if (status === 400 && data.missing) {
    setSaveLabel("Not submitted: answers missing", "error");
    triedSubmit = true;
    showMissing(data.missing);
    showProblems([]);
    focusItem(data.missing[0].item);
  } else if (status === 404 || status === 403) {
    showClosed(data.detail);
  } else {
    setSaveLabel("Not submitted", "error");
    showProblems(data.problems || [data.detail || `Error ${status}`]);
  }
}
async function revise() {
  const reason = reasonBox ? reasonBox.value.trim() : "";
  if (!reason) {
    showProblems(["Give a reason for the revision."]);
    if (reasonBox) reasonBox.focus();
    return;
  }
  submitting = true;
  try {
    const { ok, data } = await post("revise", { answers: answerList(), comment: commentBox.value, reason });
    if (ok) {
      setSaveLabel(data.changed.length ? `Revised: ${data.changed.join(", ")}` : "Nothing changed", "saved");
      showProblems([]);
    } else {
      showProblems(data.problems || (data.missing || []).map((m) => `Still to answer: ${m.label}`).concat(data.detail ? [data.detail] : []));
    }
  } finally {
    submitting = false;
  }
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
form.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches("input[type=radio][data-item]") && target.checked) {
    setAnswer(target.dataset.item, target.dataset.level || "", Number(target.value));
  } else if (target.matches("input[type=number][data-item]")) {
    const raw = target.value.trim();
    setAnswer(target.dataset.item, target.dataset.level || "", raw === "" ? null : Number(raw));
  }
});
form.addEventListener("input", (event) => {
  const target = event.target;
  if (target === commentBox) {
    scheduleSave(1200);
  } else if (target.matches("input[type=number][data-item]")) {
    const raw = target.value.trim();
    if (raw === "" || Number.isFinite(Number(raw))) setAnswer(target.dataset.item, target.dataset.level || "", raw === "" ? null : Number(raw));
  }
});
function cellsOf(grid) {
  return Array.from(grid.querySelectorAll(".rd-cell"));
}
function moveCell(cell) {
  const grid = cell.closest(".rd-grid");
  for (const other of cellsOf(grid)) other.tabIndex = other === cell ? 0 : -1;
  cell.focus();
}
for (const grid of form.querySelectorAll(".rd-grid")) {
  const cells = cellsOf(grid);
  if (cells.length) cells[0].tabIndex = 0;
}
function setCell(cell, cellState) {
  const { item, level } = cell.dataset;
  if (cellState === "na" && !items.get(item).not_assessable) return;
  if (cellState === "present") setAnswer(item, level, 1);
  else if (cellState === "absent") setAnswer(item, level, 0);
  else if (cellState === "na") setAnswer(item, level, null, { not_assessable: true });
  else setAnswer(item, level, null, {});
}
function nextCellState(cell) {
  const current = cellStateOf(answers.get(keyOf(cell.dataset.item, cell.dataset.level)));
  const cycle = items.get(cell.dataset.item).not_assessable ? ["present", "absent", "na"] : ["present", "absent"];
  return cycle[(cycle.indexOf(current) + 1) % cycle.length];
}
form.addEventListener("click", (event) => {
  const cell = event.target.closest(".rd-cell");
  if (cell) {
    moveCell(cell);
    setCell(cell, nextCellState(cell));
    return;
  }
  const rest = event.target.closest(".rd-rest-absent");
  if (rest) {
    for (const cell2 of rest.closest(".rd-grid").querySelectorAll('.rd-cell[data-state="unanswered"]')) setCell(cell2, "absent");
    return;
  }
  const clear = event.target.closest(".rd-roi-clear");
  if (clear) {
    setAnswer(clear.dataset.item, "", null, {});
    render(clear.dataset.item);
  }
});
function gridStep(cell, key) {
  const row = cell.closest("tr");
  const col = Array.from(row.children).indexOf(cell.parentElement);
  const rows = Array.from(cell.closest("tbody").rows);
  let r = rows.indexOf(row);
  let c = col;
  if (key === "ArrowUp") r -= 1;
  else if (key === "ArrowDown") r += 1;
  else if (key === "ArrowLeft") c -= 1;
  else if (key === "ArrowRight") c += 1;
  else if (key === "Home") c = 1;
  else if (key === "End") c = row.children.length - 1;
  r = Math.max(0, Math.min(rows.length - 1, r));
  c = Math.max(1, Math.min(row.children.length - 1, c));
  return rows[r].children[c].querySelector(".rd-cell");
}
const typing = (el) => el && el.matches && el.matches("textarea, input[type=text], input[type=number], input[type=datetime-local]");
form.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) return;
  if (event.key === "Enter" && event.target.matches("input")) {
    event.preventDefault();
    return;
  }
  if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) return;
  const cell = event.target.closest(".rd-cell");
  if (cell) {
    if (["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) {
      event.preventDefault();
      moveCell(gridStep(cell, event.key));
    } else if (event.key === "1") {
      event.preventDefault();
      setCell(cell, "present");
    } else if (event.key === "0") {
      event.preventDefault();
      setCell(cell, "absent");
    } else if (event.key === "n" || event.key === "N") {
      event.preventDefault();
      setCell(cell, "na");
    } else if (event.key === " ") {
      event.preventDefault();
      setCell(cell, nextCellState(cell));
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      setCell(cell, "unanswered");
    } else if (event.key === "Enter") {
      event.preventDefault();
    }
    return;
  }
  if (!/^[0-9]$/.test(event.key)) return;
  const block = event.target.closest(".rd-item");
  if (!block || !block.dataset.item) return;
  const radio = block.querySelector(`input[type=radio][value="${event.key}"]`);
  if (radio) {
    event.preventDefault();
    radio.checked = true;
    radio.focus();
    setAnswer(block.dataset.item, block.dataset.level || "", Number(event.key));
  }
});
const IMAGE_KEYS = { ArrowUp: -1, ArrowLeft: -1, PageUp: -1, ArrowDown: 1, ArrowRight: 1, PageDown: 1, Home: "first", End: "last" };
document.addEventListener("keydown", (event) => {
  if (!(event.key in IMAGE_KEYS) || event.ctrlKey || event.altKey || event.metaKey) return;
  const target = event.target;
  if (typing(target) || target.closest && target.closest(".rv-viewer")) return;
  if (target.closest && target.closest(".rd-cell") && !["PageUp", "PageDown"].includes(event.key)) return;
  if (target.matches && target.matches("select, summary")) return;
  event.preventDefault();
  event.stopPropagation();
  const viewer = window.readingPage.viewer;
  if (!viewer) return;
  const step = IMAGE_KEYS[event.key];
  if (step === "first") viewer.setIndex(0);
  else if (step === "last") viewer.setIndex(Number.MAX_SAFE_INTEGER);
  else viewer.scroll(step);
}, { capture: true });
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    submit();
    return;
  }
  if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) return;
  const key = event.key.toLowerCase();
  if (key === "v") {
    event.preventDefault();
    document.getElementById("rd-viewer-left").focus();
    return;
  }
  const viewer = window.readingPage.viewer;
  if (!viewer) return;
  const action = VIEWER_KEYS[key];
  if (!action) return;
  event.preventDefault();
  action(viewer);
});
if (!editable) {
  for (const el of form.querySelectorAll("input, textarea, .rd-cell, .rd-roi-clear")) el.disabled = true;
  submitButton.disabled = true;
}
let roiTarget = null;
form.addEventListener("focusin", (event) => {
  const block = event.target.closest('.rd-item[data-kind="roi"]');
  if (block) roiTarget = block.dataset.item;
});
function onRoi(roi, side = "left") {
  const roiItems = state.items.filter((item) => item.kind === "roi");
  if (!roiItems.length || !editable) return;
  const target = roiTarget || (roiItems.find((item) => !answers.get(keyOf(item.key))) || roiItems[0]).key;
  setAnswer(target, "", roi.mean, {
    mean: roi.mean,
    sd: roi.stdDev,
    area_mm2: roi.areaMm2,
    slice: roi.slice,
    side,
    ellipse: { annotation: roi.id, pixels: roi.pixelCount, area: roi.area, area_unit: roi.areaUnit }
  });
}
const VIEWER_KEYS = {
  w: () => setTool("windowLevel"),
  g: () => setTool("windowRegion"),
  l: () => setTool("length"),
  a: () => setTool("angle"),
  e: () => setTool("roi"),
  p: () => nextPreset(),
  z: (viewer) => viewer.fit(),
  x: (viewer) => viewer.actualSize(),
  c: () => toggleCine(),
  f: () => fullScreenPane(),
  i: (viewer) => viewer.invert(),
  r: (viewer) => viewer.reset()
};
const presetSelect = document.getElementById("rd-preset");
const presets = state.viewer && state.viewer.presets || [];
function applyPreset(name) {
  const viewer = window.readingPage.viewer;
  if (!viewer) return;
  if (name) viewer.setPreset(name);
  else viewer.reset();
  if (presetSelect) presetSelect.value = name || "";
}
function nextPreset() {
  if (!presets.length) return;
  const names = ["", ...presets.map((p) => p.name)];
  const current = presetSelect ? presetSelect.value : "";
  applyPreset(names[(names.indexOf(current) + 1) % names.length]);
}
if (presetSelect) presetSelect.addEventListener("change", () => applyPreset(presetSelect.value));
let cineOn = false;
function toggleCine() {
  const viewer = window.readingPage.viewer;
  if (!viewer) return;
  cineOn = viewer.cine(!cineOn);
  const button = document.querySelector('.rd-tools [data-action="cine"]');
  if (button) button.setAttribute("aria-pressed", cineOn ? "true" : "false");
}
let lastPane = null;
document.addEventListener("focusin", (event) => {
  const pane = event.target.closest && event.target.closest(".rd-viewport");
  if (pane) lastPane = pane;
});
function fullScreenPane() {
  if (document.fullscreenElement) {
    document.exitFullscreen().catch(() => {
    });
    return;
  }
  const pane = lastPane || document.getElementById("rd-viewer-left");
  if (pane.requestFullscreen) pane.requestFullscreen().then(() => pane.focus({ preventScroll: true })).catch(() => {
  });
}
const UNIT_OF = { length: ["mm"], angle: ["°", "deg", "degree", "degrees"] };
let measureTarget = null;
form.addEventListener("focusin", (event) => {
  const block = event.target.closest('.rd-item[data-kind="numeric"]');
  if (block) measureTarget = block.dataset.item;
});
function onMeasurement(m, side = "left") {
  if (!editable) return;
  const units = UNIT_OF[m.kind] || [];
  const level = side.startsWith("pane-") ? `@${side.slice(5)}` : "";
  const fits = state.items.filter((item) => item.kind === "numeric" && units.includes(String(item.unit).trim().toLowerCase()) && (!item.per_sequence || item.per_sequence.some((p) => p.level === level)));
  if (!fits.length) return;
  const open = (item) => {
    const a = answers.get(keyOf(item.key, item.per_sequence ? level : ""));
    return !a || a.value == null;
  };
  const target = fits.find((item) => item.key === measureTarget) || fits.find(open) || null;
  if (!target) return;
  const value = Math.round(m.value * 10) / 10;
  setAnswer(target.key, target.per_sequence ? level : "", value, { measurement: { kind: m.kind, slice: m.slice, side, points: m.points } });
}
function setTool(name) {
  const viewer = window.readingPage.viewer;
  if (!viewer) return;
  viewer.setTool(name);
  for (const button of document.querySelectorAll(".rd-tools [data-tool]")) {
    button.setAttribute("aria-pressed", button.dataset.tool === name ? "true" : "false");
  }
}
for (const button of document.querySelectorAll(".rd-tools button")) {
  button.addEventListener("click", () => {
    const viewer = window.readingPage.viewer;
    if (!viewer) return;
    const { tool, action } = button.dataset;
    if (tool) setTool(tool);
    else if (action === "invert") viewer.invert();
    else if (action === "reset") viewer.reset();
    else if (action === "fit") viewer.fit();
    else if (action === "actualSize") viewer.actualSize();
    else if (action === "cine") toggleCine();
    else if (action === "fullscreen") fullScreenPane();
  });
}
async function readerViewer() {
  if (window.ReaderViewer) return window.ReaderViewer;
  return new Promise((resolve) => {
    window.addEventListener("readerviewer:ready", (event) => resolve(event.detail), { once: true });
  });
}
function imageIds(urls) {
  return urls.map((url) => `wadouri:${new URL(url, window.location.origin).href}`);
}
(async () => {
  const RV = await readerViewer();
  const left = document.getElementById("rd-viewer-left");
  const initialIndex = Math.floor((state.instances.length - 1) / 2);
  const viewerOptions = {
    initialIndex,
    label: state.sequence || "",
    presets: presets.map((p) => ({ name: p.name, windowCenter: p.window_center, windowWidth: p.window_width })),
    initialPreset: state.viewer && state.viewer.initial_preset || void 0,
    tabIndex: -1
  };
  let viewer;
  if (state.layout === "case") {
    const elements = Array.from(document.querySelectorAll(".rd-pane"));
    viewer = RV.createCaseViewer(elements, {
      panes: state.panes.map((pane) => ({ imageIds: imageIds(pane.instances), label: pane.label })),
      ...viewerOptions,
      initialIndex: void 0,
      // each pane opens mid-stack
      // The pane a measurement was made in (1-based), so the server checks it against that series.
      onRoi: (roi, pane) => onRoi(roi, `pane-${pane + 1}`),
      onMeasurement: (m, pane) => onMeasurement(m, `pane-${pane + 1}`)
    });
  } else if (state.layout === "pair") {
    viewer = RV.createSideBySide(left, document.getElementById("rd-viewer-right"), {
      leftIds: imageIds(state.instances),
      rightIds: imageIds(state.instances_right),
      ...viewerOptions,
      onRoi,
      onMeasurement
    });
  } else {
    viewer = RV.createStackViewer(left, {
      imageIds: imageIds(state.instances),
      ...viewerOptions,
      onRoi: (roi) => onRoi(roi, "left"),
      onMeasurement: (m) => onMeasurement(m, "left")
    });
  }
  window.readingPage.viewer = viewer;
  if (document.activeElement === document.body || document.activeElement === null) left.focus({ preventScroll: true });
  try {
    await viewer.ready;
    document.body.dataset.imageShown = "1";
  } catch (error) {
    setSaveLabel("The image could not be loaded; answers still save.", "error");
    return;
  }
  try {
    await viewer.toolsReady;
    document.body.dataset.viewerReady = "1";
  } catch (error) {
    setSaveLabel("The image tools could not be loaded (reload the page); answers still save.", "error");
  }
})();
