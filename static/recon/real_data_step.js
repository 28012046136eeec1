function csrfToken(root = document) {
  const input = root.querySelector("input[name=csrfmiddlewaretoken]");
  if (input && input.value) return input.value;
  const holder = root.querySelector("[data-csrf]");
  if (holder && holder.dataset.csrf) return holder.dataset.csrf;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}
async function apiFetch(url, { method, body: body2 = null, keepalive = false, csrf } = {}) {
  const multipart = typeof FormData !== "undefined" && body2 instanceof FormData;
  const headers = { Accept: "application/json", "X-CSRFToken": csrf ?? csrfToken() };
  if (body2 !== null && !multipart) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method: method || (body2 === null ? "GET" : "POST"),
    credentials: "same-origin",
    keepalive,
    headers,
    body: body2 === null ? null : multipart ? body2 : JSON.stringify(body2)
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
const section = document.getElementById("recon-real");
const KIND_ARMS = {
  standard: ["Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"],
  fast: ["Fast-DL25", "Fast-DL50", "Fast-DL75"],
  kspace: ["Standard", "Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"]
};
const SOURCE_ARM = { standard: "Standard", fast: "Fast" };
function call(url, method = "GET", body2 = null) {
  return apiFetch(url, { method, body: body2 });
}
function flatten(data) {
  if (data == null) return [];
  if (typeof data === "string") return [data];
  if (Array.isArray(data)) return data.flatMap(flatten);
  return Object.entries(data).flatMap(([k, v]) => flatten(v).map((m) => k === "detail" || k === "non_field_errors" ? m : `${k}: ${m}`));
}
function checkbox(name, value, label, checked) {
  const l = document.createElement("label");
  l.className = "ws-check";
  const input = document.createElement("input");
  Object.assign(input, { type: "checkbox", name, value, checked });
  l.append(input, ` ${label}`);
  return l;
}
if (section) {
  let render2 = function() {
    const k = kind.value;
    form.querySelector(".rc-real-series").hidden = k === "kspace";
    form.querySelector(".rc-real-raw").hidden = k !== "kspace";
    const list = form.querySelector(".rc-real-series-list");
    list.replaceChildren();
    const from = series.filter((s) => s.arm === SOURCE_ARM[k] && s.source !== "recon");
    for (const s of from) list.append(checkbox("series", s.public_id, `${s.case} · ${s.sequence} · ${s.arm} (${s.num_instances} images)`, true));
    if (k !== "kspace" && !from.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = `No imported ${SOURCE_ARM[k]} series yet: import them above first.`;
      list.append(p);
    }
    const arms = form.querySelector(".rc-real-arm-list");
    arms.replaceChildren();
    for (const a of KIND_ARMS[k]) {
      const item = checkbox("arms", a, a, studyArms.includes(a));
      item.querySelector("input").disabled = !studyArms.includes(a);
      arms.append(item);
    }
    form.querySelector(".rc-real-noise").hidden = k === "kspace";
  }, body2 = function() {
    const k = kind.value;
    const b = { kind: k, protocol_set: form.elements.protocol_set.value };
    b.arms = [...form.querySelectorAll('input[name="arms"]:checked')].map((i) => i.value);
    if (k === "kspace") {
      b.raw_files = form.elements.raw_files.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
        const [path, c, sequence] = l.split(",").map((x) => x.trim());
        return { path, case: c, sequence };
      });
    } else {
      b.series = [...form.querySelectorAll('input[name="series"]:checked')].map((i) => i.value);
      const sd = form.elements.noise_sd.value.trim();
      if (sd !== "") b.noise_sd = Number(sd);
      const roi = ["roi_r0", "roi_r1", "roi_c0", "roi_c1"].map((n) => form.elements[n].value.trim());
      if (roi.every((v) => v !== "")) b.background_roi = { rows: [Number(roi[0]), Number(roi[1])], cols: [Number(roi[2]), Number(roi[3])] };
    }
    return b;
  }, show2 = function(list) {
    errors.hidden = !list.length;
    errors.replaceChildren(...list.map((m) => Object.assign(document.createElement("p"), { textContent: m })));
  };
  var render = render2, body = body2, show = show2;
  const study = section.dataset.study;
  const form = section.querySelector("form");
  const kind = form.elements.kind;
  const errors = form.querySelector(".ws-errors");
  const job = form.querySelector(".ws-job");
  let series = [];
  let studyArms = [];
  async function load() {
    const [s, a] = await Promise.all([call(`/api/studies/${study}/series/`), call(`/api/studies/${study}/arms/`)]);
    series = s.ok ? s.data.results || s.data : [];
    studyArms = a.ok ? (a.data.results || a.data).map((x) => x.name) : [];
    form.querySelector(".rc-real-loading").hidden = true;
    render2();
  }
  async function follow(id) {
    job.hidden = false;
    const bar = job.querySelector("progress");
    const text = job.querySelector(".ws-job-text");
    for (; ; ) {
      const r = await call(`/api/studies/${study}/recon-jobs/${id}/`);
      if (!r.ok) {
        show2(flatten(r.data));
        return;
      }
      bar.value = r.data.progress;
      text.textContent = `${r.data.state}: ${r.data.message || ""}`;
      if (r.data.state === "succeeded") {
        text.textContent = "Done: the new series are in the study.";
        return;
      }
      if (r.data.state === "failed") {
        text.textContent = "Failed.";
        show2([r.data.error]);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1e3));
    }
  }
  kind.addEventListener("change", render2);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show2([]);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const r = await call(`/api/studies/${study}/recon-jobs/`, "POST", body2());
      if (!r.ok) {
        show2(flatten(r.data));
        return;
      }
      await follow(r.data.public_id);
    } finally {
      button.disabled = false;
    }
  });
  load();
}
