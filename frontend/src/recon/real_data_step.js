// Workspace step "recon on real data": choose imported series (or raw files) and the arms to
// make, start a recon job through /api/studies/<id>/recon-jobs/ and follow its progress.
// The workspace's own script handles .ws-form forms; this form is .rc-real-form and stands alone.
// Source of static/recon/real_data_step.js (built by `npm run build`, see frontend/README.md).
import { apiFetch } from "../shared/http.js";

const section = document.getElementById("recon-real");
const KIND_ARMS = {
  standard: ["Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"],
  fast: ["Fast-DL25", "Fast-DL50", "Fast-DL75"],
  kspace: ["Standard", "Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"],
};
// Which imported arm each kind starts from.
const SOURCE_ARM = { standard: "Standard", fast: "Fast" };

// Through the site's one fetch + CSRF helper (shared/http.js).
function call(url, method = "GET", body = null) {
  return apiFetch(url, { method, body });
}

function flatten(data) {
  if (data == null) return [];
  if (typeof data === "string") return [data];
  if (Array.isArray(data)) return data.flatMap(flatten);
  return Object.entries(data).flatMap(([k, v]) => flatten(v).map((m) => (k === "detail" || k === "non_field_errors" ? m : `${k}: ${m}`)));
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
  const study = section.dataset.study;
  const form = section.querySelector("form");
  const kind = form.elements.kind;
  const errors = form.querySelector(".ws-errors");
  const job = form.querySelector(".ws-job");
  let series = [];
  let studyArms = [];

  function render() {
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
  }

  async function load() {
    const [s, a] = await Promise.all([call(`/api/studies/${study}/series/`), call(`/api/studies/${study}/arms/`)]);
    series = s.ok ? (s.data.results || s.data) : [];
    studyArms = a.ok ? (a.data.results || a.data).map((x) => x.name) : [];
    form.querySelector(".rc-real-loading").hidden = true;
    render();
  }

  function body() {
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
  }

  function show(list) {
    errors.hidden = !list.length;
    errors.replaceChildren(...list.map((m) => Object.assign(document.createElement("p"), { textContent: m })));
  }

  async function follow(id) {
    job.hidden = false;
    const bar = job.querySelector("progress");
    const text = job.querySelector(".ws-job-text");
    for (;;) {
      const r = await call(`/api/studies/${study}/recon-jobs/${id}/`);
      if (!r.ok) { show(flatten(r.data)); return; }
      bar.value = r.data.progress;
      text.textContent = `${r.data.state}: ${r.data.message || ""}`;
      if (r.data.state === "succeeded") { text.textContent = "Done: the new series are in the study."; return; }
      if (r.data.state === "failed") { text.textContent = "Failed."; show([r.data.error]); return; }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  kind.addEventListener("change", render);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show([]);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const r = await call(`/api/studies/${study}/recon-jobs/`, "POST", body());
      if (!r.ok) { show(flatten(r.data)); return; }
      await follow(r.data.public_id);
    } finally {
      button.disabled = false;
    }
  });
  load();
}
