// sleuth web page: upload, then one verdict card per image built from the stored report.
// Plain DOM (textContent only: report strings are never parsed as HTML); no external assets.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const drop = $("drop"), input = $("files"), statusEl = $("status"), results = $("results");
  const keyBox = $("keybox"), keyInput = $("apikey");
  let info = { auth: false };

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.className = v; else if (k === "text") n.textContent = v; else n.setAttribute(k, v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) n.append(k instanceof Node ? k : String(k));
    return n;
  }
  const pct = (p) => (p * 100).toFixed(p >= 0.995 || p <= 0.005 ? 1 : 0) + "%";
  const fprText = (f) => (f >= 0.01 ? (f * 100).toFixed(0) + "%" : f.toExponential(0));

  function headers() {
    const k = (keyInput.value || "").trim();
    return k ? { Authorization: "Bearer " + k } : {};
  }
  async function api(url, opts) {
    return fetch(url, Object.assign({ headers: headers() }, opts || {}));
  }
  async function blobUrl(url) {
    const r = await api(url);
    if (!r.ok) throw new Error(url + ": " + r.status);
    return URL.createObjectURL(await r.blob());
  }

  async function loadInfo() {
    try {
      info = await (await fetch("/info")).json();
      keyBox.hidden = !info.auth;
      $("limits").textContent = `Up to ${info.max_files} images, ${(info.max_request_bytes / 1048576).toFixed(0)} MB ` +
        `and ${(info.max_pixels / 1e6).toFixed(0)} megapixels each; each request gets ${info.time_budget_s} s.`;
    } catch (e) { statusEl.textContent = "cannot reach the server: " + e; }
    keyInput.value = sessionStorage.getItem("sleuth-key") || "";
    keyInput.addEventListener("change", () => { sessionStorage.setItem("sleuth-key", keyInput.value.trim()); loadIndexes(); });
    loadIndexes();
  }

  async function loadIndexes() {
    if (info.auth && !keyInput.value.trim()) return;
    try {
      const r = await api("/v1/indexes");
      if (!r.ok) return;
      const sel = $("index"), list = await r.json();
      sel.replaceChildren(el("option", { value: "", text: "(no index)" }),
        ...list.map((i) => el("option", { value: i.name, text: `${i.name} (${i.references ?? "?"} images)` })));
      $("indexrow").hidden = list.length === 0;
    } catch (e) { /* the page works without indexes */ }
  }

  // ------------------------------------------------------------------ upload
  $("pick").addEventListener("click", () => input.click());
  // clear the picker after each choice, so choosing the same file again (e.g. after pasting a key) works
  input.addEventListener("change", () => { const f = Array.from(input.files); input.value = ""; send(f); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); send(e.dataTransfer.files); });

  async function send(files) {
    if (!files || !files.length) return;
    if (info.auth && !keyInput.value.trim()) { statusEl.textContent = "Paste your API key first."; keyInput.focus(); return; }
    const fd = new FormData();
    for (const f of files) fd.append("files", f, f.name);
    const params = new URLSearchParams();
    if ($("fast").checked) params.set("fast", "true");
    if ($("index").value) params.set("index", $("index").value);
    const q = params.toString() ? "?" + params : "";
    statusEl.textContent = `Analysing ${files.length} image${files.length > 1 ? "s" : ""}…`;
    const t0 = performance.now();
    let r, body;
    try {
      r = await api("/v1/scan" + q, { method: "POST", body: fd });
      body = await r.json();
    } catch (e) { statusEl.textContent = "The request failed: " + e; return; }
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const reports = Array.isArray(body) ? body : (body.reports || []);
    if (!r.ok) showProblem(body, r.status);
    for (const rep of reports) results.prepend(await card(rep));
    statusEl.textContent = r.ok ? `Done in ${secs} s: ${reports.length} report${reports.length > 1 ? "s" : ""} below.`
      : `${body.error || "error " + r.status}`;
    results.focus();
  }

  function showProblem(body, status) {
    const box = el("section", { class: "card", role: "alert" }, el("h2", { text: `Not analysed (${status})` }),
      el("p", { class: "err", text: body.error || "error" }));
    if (body.files && body.files.length) {
      box.append(el("ul", {}, body.files.map((f) => el("li", {}, el("strong", { text: f.file }), ": " + f.reason))));
    }
    results.prepend(box);
  }

  // ------------------------------------------------------------------ one card
  const ev = (rep, name) => (rep.evidence || []).find((e) => e.analyzer === name);
  const byKind = (rep, kind) => (rep.evidence || []).filter((e) => e.kind === kind);

  function tag(text, cls) { return el("span", { class: "tag " + cls, text }); }

  function originRow(rep) {
    const s = rep.summary || {};
    const o = s.origin || "unknown";
    const cls = o.startsWith("ai") ? "ai" : o.startsWith("camera") ? "ok" : "none";
    const basis = [...(s.claims || []).map((c) => "claim · " + c), ...(s.signals || []).map((c) => "signal · " + c)];
    return [el("dt", { text: "Origin" }), el("dd", {}, tag(o, cls), el("p", { text: s.text || "" }),
      (s.conflicts || []).map((c) => el("p", { class: "conflict", text: "Conflict: " + c })),
      basis.length ? el("ul", { class: "basis" }, basis.map((b) => el("li", { text: b }))) : null)];
  }

  function aiRow(rep) {
    const e = byKind(rep, "ai-generated")[0];
    let dd;
    if (!e) dd = el("dd", { text: "not checked (quick check)" });
    else if (e.error) dd = el("dd", { class: "err", text: e.error });
    else {
      const d = e.details || {};
      const p = d.probability ?? e.score;
      const isAi = d.is_ai ?? e.verdict === "ai-generated";
      const fpr = d.fpr_target;
      dd = el("dd", {}, tag(isAi ? "likely AI-generated" : "not flagged", isAi ? "ai" : "ok"),
        p !== undefined && p !== null ? ` probability ${pct(p)}` : "",
        fpr ? el("p", { class: "basis", text: `Flagged above ${d.threshold?.toFixed?.(2) ?? "?"}, a threshold set so that ${fprText(fpr)} of real photos are wrongly flagged (false-positive rate).` }) : null,
        d.family ? el("p", { class: "basis", text: `Closest generator family: ${d.family} (${pct(d.family_probability || 0)}).` }) : null,
        d.reliability && d.reliability.level !== "ok" ? el("p", { class: "conflict", text: `Reliability: ${d.reliability.level} ${(d.reliability.flags || []).join(", ")}` }) : null);
    }
    return [el("dt", { text: "AI-generated?" }), dd];
  }

  function manipulationRow(rep) {
    const fused = ev(rep, "manipulation");
    let dd;
    if (!fused) dd = el("dd", { text: "not checked (quick check)" });
    else {
      const d = fused.details || {};
      const fired = Object.entries(d.analyzers || {}).filter(([, a]) => a.p !== undefined).sort((a, b) => b[1].p - a[1].p);
      const flagged = fused.verdict && fused.verdict !== "no-evidence";
      dd = el("dd", {}, tag(flagged ? "signs of editing" : "no edited region found", flagged ? "warn" : "ok"),
        el("p", { text: fused.summary || "" }),
        fired.length ? el("p", { class: "basis", text: "Where: see the heatmaps below (fused map first). Strongest: " +
          fired.slice(0, 3).map(([n, a]) => `${n} ${a.p.toFixed(2)}`).join(", ") }) : null);
    }
    return [el("dt", { text: "Edited?" }), dd];
  }

  function simpleRow(label, e, none) {
    if (!e) return [el("dt", { text: label }), el("dd", { text: none })];
    const hit = e.strength !== "none" && !["no-evidence", "absent", "not-checked", "skipped", null].includes(e.verdict);
    return [el("dt", { text: label }), el("dd", {}, tag(hit ? (e.verdict || "found") : "none found", hit ? "warn" : "none"),
      " ", e.error ? el("span", { class: "err", text: e.error }) : (e.summary || ""))];
  }

  function chain(rep) {
    const c = ev(rep, "c2pa");
    const d = (c && c.details) || {};
    if (!d.manifest_present) return null;
    const box = el("section", {}, el("h3", { text: "Provenance chain (C2PA)" }),
      el("p", { text: `${d.validation_state || "?"} manifest signed by ${d.signer || "?"}${d.issuer ? " (issuer " + d.issuer + ")" : ""}; trust: ${d.trust || "?"}.` }));
    const acts = (d.actions || []).map((a) => el("li", { text: [a.action, a.software_agent, a.digital_source_type].filter(Boolean).join(" · ") }));
    if (acts.length) box.append(el("p", { text: "Actions, in order:" }), el("ol", { class: "chain" }, acts));
    const ings = (d.ingredients || []).map((i) => el("li", {}, el("strong", { text: i.title || "ingredient" }),
      ` (${i.relationship || "?"}${i.signer ? ", signed by " + i.signer : ""})`,
      (i.actions || []).length ? el("ol", { class: "chain" }, i.actions.map((a) => el("li", { text: [a.action, a.software_agent, a.digital_source_type].filter(Boolean).join(" · ") }))) : null));
    if (ings.length) box.append(el("p", { text: "Made from:" }), el("ul", {}, ings));
    return box;
  }

  function flat(obj, prefix, out) {
    for (const [k, v] of Object.entries(obj || {})) {
      const key = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v)) flat(v, key, out);
      else out.push([key, Array.isArray(v) ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : x)).join(", ") : String(v)]);
    }
    return out;
  }

  function metadata(rep) {
    const rows = [["file", rep.path], ["format", rep.format], ["size", `${rep.width} × ${rep.height} px, ${rep.bytes} bytes`], ["sha256", rep.sha256]];
    for (const name of ["exif", "generator-metadata"]) {
      const e = ev(rep, name);
      if (e) flat(e.details, name, rows);
    }
    return el("details", {}, el("summary", { text: "Metadata" }),
      el("table", {}, el("tbody", {}, rows.filter(([, v]) => v !== "" && v !== "undefined").map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", { text: v }))))));
  }

  function allEvidence(rep) {
    return el("details", {}, el("summary", { text: `All evidence (${(rep.evidence || []).length} items)` }),
      el("table", {}, el("thead", {}, el("tr", {}, ["analyzer", "verdict", "strength", "summary"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, (rep.evidence || []).map((e) => el("tr", {}, el("td", { text: e.analyzer }), el("td", { text: e.verdict ?? "" }),
          el("td", { text: e.strength }), el("td", { text: e.error || e.summary }))))));
  }

  async function card(rep) {
    const c = el("article", { class: "card", "aria-label": "Report for " + rep.path });
    const links = rep.links || {};
    const jsonLink = el("a", { href: links.self || "#", class: "json", target: "_blank", rel: "noopener", text: "Stored JSON report" });
    jsonLink.addEventListener("click", async (e) => {
      if (!headers().Authorization) return; // no key needed: the plain link works
      e.preventDefault();
      window.open(await blobUrl(links.self), "_blank", "noopener");
    });
    c.append(el("header", {}, el("h2", { text: rep.path }),
      el("span", { class: "facts", text: rep.error ? "" : `${rep.format} · ${rep.width}×${rep.height}` })));
    if (rep.error) { c.append(el("p", { class: "err", text: rep.error })); return c; }
    c.append(el("dl", { class: "verdict" }, originRow(rep), aiRow(rep), manipulationRow(rep),
      simpleRow("Copy of a known image?", byKind(rep, "copy")[0], "not checked (no index on this server)"),
      simpleRow("Our watermark?", ev(rep, "watermark"), "not checked (no key on this server)"),
      simpleRow("Known AI watermark?", ev(rep, "known-watermark"), "not checked")));
    const ch = chain(rep);
    if (ch) c.append(ch);
    const cp = await copies(rep);
    if (cp) c.append(cp);
    const maps = Object.keys(links).filter((k) => k.startsWith("maps.")).map((k) => k.slice(5));
    if (maps.length && links.preview) c.append(await viewer(links, maps));
    c.append(metadata(rep), allEvidence(rep), el("p", { class: "links" }, jsonLink, el("span", { class: "hint", text: "id " + rep.id })));
    return c;
  }

  // ------------------------------------------------------------------ copy matches side by side
  async function framed(src, region, w, h, label) {
    const img = el("img", { alt: label });
    img.src = src;
    const stage = el("div", { class: "stage" }, img);
    if (region && w && h) {
      const [x0, y0, x1, y1] = region, box = el("div", { class: "region", "aria-hidden": "true" });
      Object.assign(box.style, { left: (100 * x0 / w) + "%", top: (100 * y0 / h) + "%",
        width: (100 * (x1 - x0) / w) + "%", height: (100 * (y1 - y0) / h) + "%" });
      stage.append(box);
    }
    return el("figure", {}, stage, el("figcaption", { text: label }));
  }

  async function copies(rep) {
    const e = byKind(rep, "copy")[0];
    const d = (e && e.details) || {};
    const ms = (d.matches || []).filter((m) => m.is_copy || m.score >= 0.2).slice(0, 3);
    if (!ms.length || !(rep.links || {}).preview) return null;
    const box = el("section", {}, el("h3", { text: "Copy matches (matched regions outlined)" }));
    const query = await blobUrl(rep.links.preview);
    for (const m of ms) {
      const rg = m.regions || {};
      const left = await framed(query, rg.query, rep.width, rep.height, "your image");
      let right = el("p", { class: "hint", text: "reference preview not available (index not managed by this server)" });
      if (d.index_name) {
        try {
          const r = await api(`/v1/indexes/${encodeURIComponent(d.index_name)}/references/${m.id}/preview`);
          if (r.ok) {
            const [w, h] = (r.headers.get("X-Image-Size") || "0x0").split("x").map(Number);
            right = await framed(URL.createObjectURL(await r.blob()), rg.reference, w, h, `reference #${m.id} (${m.path})`);
          }
        } catch (err) { /* keep the note */ }
      }
      box.append(el("p", { text: `Reference #${m.id}: score ${m.score.toFixed(2)}${m.is_copy ? " (a copy)" : " (not a copy)"}` +
        (m.inliers ? `, ${m.inliers} matching keypoints` : "") + (rg.relation ? `, ${rg.relation}` : "") }),
      el("div", { class: "pair" }, left, right));
    }
    return box;
  }

  // ------------------------------------------------------------------ heatmap viewer
  // colour scale: dark (clean) -> red -> yellow (suspicious); alpha follows the value so clean areas stay see-through
  const STOPS = [[0, 0, 0, 4], [0.35, 120, 28, 109], [0.6, 220, 60, 40], [0.8, 250, 150, 20], [1, 252, 255, 164]];
  function colour(v) {
    for (let i = 1; i < STOPS.length; i++) {
      if (v <= STOPS[i][0]) {
        const a = STOPS[i - 1], b = STOPS[i], t = (v - a[0]) / (b[0] - a[0]);
        return [0, 1, 2].map((j) => Math.round(a[j + 1] + t * (b[j + 1] - a[j + 1])));
      }
    }
    return STOPS[STOPS.length - 1].slice(1);
  }
  const LUT = Array.from({ length: 256 }, (_, i) => colour(i / 255));

  async function paint(canvas, url) {
    const img = new Image();
    img.src = await blobUrl(url);
    await img.decode();
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < px.data.length; i += 4) {
      const v = px.data[i], c = LUT[v];
      px.data[i] = c[0]; px.data[i + 1] = c[1]; px.data[i + 2] = c[2]; px.data[i + 3] = Math.min(255, 40 + v);
    }
    ctx.putImageData(px, 0, 0);
  }

  function legend() {
    const cv = el("canvas", { width: "256", height: "1", "aria-hidden": "true" });
    const ctx = cv.getContext("2d"), row = ctx.createImageData(256, 1);
    LUT.forEach((c, i) => { row.data.set([c[0], c[1], c[2], 255], i * 4); });
    ctx.putImageData(row, 0, 0);
    return el("div", { class: "scale" }, el("span", { text: "clean" }), cv, el("span", { text: "suspicious" }));
  }

  let viewerSeq = 0;
  async function viewer(links, maps) {
    const id = "v" + (++viewerSeq);
    maps.sort((a, b) => (b.startsWith("manipulation") ? 1 : 0) - (a.startsWith("manipulation") ? 1 : 0));
    const base = el("img", { alt: "the analysed image" });
    base.src = await blobUrl(links.preview);
    const overlay = el("canvas", { class: "overlay", "aria-hidden": "true" });
    const stage = el("div", { class: "stage" }, base, overlay);
    const select = el("select", { id: id + "-map" }, maps.map((m) => el("option", { value: m, text: m.replace(".", " · ") })));
    const slider = el("input", { id: id + "-op", type: "range", min: "0", max: "100", value: "60", class: "opacity", "aria-valuetext": "60%" });
    const setOpacity = () => { overlay.style.opacity = slider.value / 100; slider.setAttribute("aria-valuetext", slider.value + "%"); };
    slider.addEventListener("input", setOpacity);
    select.addEventListener("change", () => paint(overlay, links["maps." + select.value]));
    setOpacity();
    await paint(overlay, links["maps." + maps[0]]);
    return el("section", {}, el("h3", { text: "Where: heatmaps over the image" }),
      el("div", { class: "viewer" }, stage, el("div", { class: "controls" },
        el("label", { for: id + "-map", text: "Heatmap" }), select,
        el("label", { for: id + "-op", text: "Overlay opacity" }), slider, legend(),
        el("p", { class: "hint", text: "Bright areas are where that analyzer found the image inconsistent. A heatmap is a pointer for a closer look, not proof on its own." }))));
  }

  loadInfo();
})();
