// klpmc report: the state graph's pan, zoom and click-to-inspect; no library, no network.
"use strict";
(function () {
  const data = document.getElementById("graph-data");
  const view = document.getElementById("graph-view");
  if (!data || !view) { return; }
  const graph = JSON.parse(data.textContent);
  const svg = view.querySelector("svg");
  const panel = document.getElementById("graph-panel");
  const full = svg.viewBox.baseVal;
  let box = { x: full.x, y: full.y, w: full.width, h: full.height };

  function apply() { svg.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`); }
  function fit() { box = { x: full.x, y: full.y, w: full.width, h: full.height }; apply(); }
  function zoom(factor, cx, cy) {
    const w = Math.min(Math.max(box.w * factor, 40), full.width * 4);
    const h = box.h * (w / box.w);
    box.x = cx - (cx - box.x) * (w / box.w);
    box.y = cy - (cy - box.y) * (h / box.h);
    box.w = w; box.h = h; apply();
  }
  function toGraph(evt) {
    const r = svg.getBoundingClientRect();
    const s = Math.max(box.w / r.width, box.h / r.height);   // preserveAspectRatio meet
    const ox = (r.width * s - box.w) / 2, oy = (r.height * s - box.h) / 2;
    return { x: box.x - ox + (evt.clientX - r.left) * s, y: box.y - oy + (evt.clientY - r.top) * s, s: s };
  }
  svg.addEventListener("wheel", (evt) => {
    evt.preventDefault();
    const p = toGraph(evt);
    zoom(evt.deltaY > 0 ? 1.2 : 1 / 1.2, p.x, p.y);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (evt) => {
    if (evt.target.closest(".node")) { return; }
    drag = { x: evt.clientX, y: evt.clientY, bx: box.x, by: box.y, s: toGraph(evt).s };
    svg.classList.add("dragging");
  });
  window.addEventListener("pointermove", (evt) => {
    if (!drag) { return; }
    box.x = drag.bx - (evt.clientX - drag.x) * drag.s;
    box.y = drag.by - (evt.clientY - drag.y) * drag.s;
    apply();
  });
  window.addEventListener("pointerup", () => { drag = null; svg.classList.remove("dragging"); });
  document.getElementById("zoom-in").addEventListener("click", () => zoom(1 / 1.5, box.x + box.w / 2, box.y + box.h / 2));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(1.5, box.x + box.w / 2, box.y + box.h / 2));
  document.getElementById("zoom-fit").addEventListener("click", fit);

  function text(tag, content, cls) {
    const el = document.createElement(tag);
    el.textContent = content;
    if (cls) { el.className = cls; }
    return el;
  }
  function select(id) {
    const node = graph.nodes[id];
    if (!node) { return; }
    svg.querySelectorAll(".node.selected").forEach((n) => n.classList.remove("selected"));
    const el = svg.querySelector(`.node[data-id="${id}"]`);
    if (el) { el.classList.add("selected"); }
    panel.replaceChildren();
    panel.append(text("h4", `${id}${node.kind === "init" ? " (initial state)" : ""}, depth ${node.depth}`));
    panel.append(text("pre", node.label));
    const steps = document.createElement("ul");
    steps.className = "steps";
    for (const [action, command, target, log] of node.out) {
      const li = document.createElement("li");
      const a = text("a", `${command ? "% " + command + "    # " : ""}${action}`);
      a.addEventListener("click", () => select(target));
      li.append(a, text("span", target === id ? "  (back to this state)" : `  -> ${target}`, "meta"));
      if (log) { li.append(text("pre", log)); }
      steps.append(li);
    }
    panel.append(text("h4", `${node.out.length} steps out of it`), steps);
    const details = document.createElement("details");
    details.append(text("summary", "the whole state"), text("pre", node.state));
    panel.append(details);
  }
  svg.addEventListener("click", (evt) => {
    const el = evt.target.closest(".node");
    if (el) { select(el.dataset.id); }
  });
  function showPath(name) {
    svg.querySelectorAll(".on-path").forEach((n) => n.classList.remove("on-path"));
    const path = graph.paths[name] || [];
    path.forEach((id, i) => {
      const n = svg.querySelector(`.node[data-id="${id}"]`);
      if (n) { n.classList.add("on-path"); }
      if (i > 0) {
        const e = svg.querySelector(`.edge[data-from="${path[i - 1]}"][data-to="${id}"]`);
        if (e) { e.classList.add("on-path"); }
      }
    });
    if (path.length) { select(path[path.length - 1]); }
  }
  const picker = document.getElementById("graph-path");
  if (picker) { picker.addEventListener("change", () => showPath(picker.value)); }
  document.querySelectorAll("a.show-in-graph").forEach((a) => a.addEventListener("click", () => {
    if (picker) { picker.value = a.dataset.property; }
    showPath(a.dataset.property);
  }));
  fit();
})();
