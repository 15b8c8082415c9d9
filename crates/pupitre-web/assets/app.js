// Pupitre's own small script: the phone menu and confirmations. Pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.getElementById("nav-toggle");
  const nav = document.getElementById("nav");
  if (toggle && nav) {
    toggle.addEventListener("click", () => {
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("click", (ev) => {
      if (!window.confirm(el.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
  const importForm = document.getElementById("asset-import");
  if (importForm) setupImport(importForm);
});

// The asset import page: sends the chosen file to the import API, follows the job's progress
// and shows the report. Text comes from the form's data-t-* attributes (translated server-side).
function setupImport(form) {
  const status = document.getElementById("import-status");
  const bar = document.getElementById("import-progress");
  const out = document.getElementById("import-report");
  const t = (k) => form.dataset["t" + k[0].toUpperCase() + k.slice(1)] || k;
  const cell = (tr, text) => { const td = document.createElement("td"); td.textContent = String(text); tr.appendChild(td); };
  const show = (report, failure) => {
    bar.hidden = true;
    out.textContent = "";
    const p = document.createElement("p");
    p.textContent = `${report.dry_run ? t("dry") : t("done")} ${t("created")}: ${report.created} · ${t("updated")}: ${report.updated} · ${t("unchanged")}: ${report.unchanged}`;
    out.appendChild(p);
    if (failure) {
      const e = document.createElement("p");
      e.className = "error";
      e.textContent = failure.message;
      out.appendChild(e);
    }
    if (report.errors && report.errors.length) {
      const h = document.createElement("h2");
      h.textContent = `${t("errors")} (${report.errors.length})`;
      out.appendChild(h);
      const table = document.createElement("table");
      for (const err of report.errors.slice(0, 1000)) {
        const tr = document.createElement("tr");
        cell(tr, err.row); cell(tr, err.column); cell(tr, err.message);
        table.appendChild(tr);
      }
      out.appendChild(table);
    }
  };
  const poll = async (id) => {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const resp = await fetch(`/api/v1/assets/import/${id}`, { headers: { accept: "application/json" } });
      const job = await resp.json();
      if (!resp.ok) { status.textContent = job.error ? job.error.message : resp.statusText; return; }
      if (job.state === "done") { status.textContent = ""; if (job.report) show(job.report, job.error); else status.textContent = job.error.message; return; }
      bar.hidden = false; bar.max = job.total || 1; bar.value = job.done;
      status.textContent = `${t("progress")} ${job.done} / ${job.total}`;
    }
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) return;
    const params = new URLSearchParams();
    params.set("dry_run", form.elements.dry_run.checked ? "true" : "false");
    if (form.elements.key.value) params.set("key", form.elements.key.value);
    for (const line of form.elements.mapping.value.split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) params.set("map." + line.slice(0, at).trim(), line.slice(at + 1).trim());
    }
    out.textContent = "";
    status.textContent = t("progress");
    const resp = await fetch(`/api/v1/assets/import?${params}`, {
      method: "POST",
      headers: { "content-type": "text/csv", "x-csrf-token": form.dataset.csrf, accept: "application/json" },
      body: file,
    });
    const body = await resp.json().catch(() => ({}));
    if (resp.status === 202) return poll(body.id);
    status.textContent = "";
    if (body.rows !== undefined) show(body, body.error);
    else status.textContent = body.error ? body.error.message : resp.statusText;
  });
}
