// Workhand console: confirmations, htmx errors shown as sentences, the KPI board's charts.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-confirm]");
  if (!button) return;
  let question = button.dataset.confirm;
  if (question.includes("{selected}")) {
    const form = button.form;
    const count = form ? form.querySelectorAll("input[name=selected]:checked").length : 0;
    question = question.replace("{selected}", String(count));
  }
  if (!window.confirm(question)) { event.preventDefault(); return; }
  const scope = button.form && button.form.querySelector("#bulk-scope");
  if (scope) scope.value = button.dataset.scope || "selected";
});

// htmx 2 does not swap error answers; show their sentence instead of failing silently.
document.addEventListener("htmx:responseError", (event) => {
  const problem = document.getElementById("problem");
  if (!problem) return;
  problem.textContent = event.detail.xhr.responseText || String(event.detail.xhr.status);
  problem.hidden = false;
});

// The runs table refreshes itself; keep the boxes a person has ticked.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (!target || target.tagName !== "TBODY") return;
  const ticked = [...target.querySelectorAll("input[name=selected]:checked")].map((i) => i.value);
  target.dataset.ticked = ticked.join(",");
});
document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (!target || !target.dataset.ticked) return;
  for (const value of target.dataset.ticked.split(",")) {
    const box = target.querySelector(`input[name=selected][value="${CSS.escape(value)}"]`);
    if (box) box.checked = true;
  }
});

function drawKpi() {
  const holder = document.getElementById("kpi-data");
  if (!holder || !window.echarts) return;
  const data = JSON.parse(holder.textContent);
  const axis = { type: "category", data: data.periods };
  const common = { tooltip: { trigger: "axis" }, legend: { type: "scroll", bottom: 0 },
                   grid: { left: 48, right: 16, top: 16, bottom: 64 }, xAxis: axis,
                   textStyle: { fontFamily: "Noto Sans CJK SC, sans-serif" } };
  const charts = {
    "chart-hours": { ...common, yAxis: { type: "value" },
      series: Object.entries(data.hours).map(([robot, values]) => (
        { name: robot, type: "bar", stack: "hours", data: values })) },
    "chart-items": { ...common, yAxis: { type: "value" },
      series: [{ name: document.documentElement.lang === "en" ? "done" : "完成", type: "bar", data: data.done },
               { name: document.documentElement.lang === "en" ? "handed back" : "转人工", type: "bar", data: data.handed_back }] },
    "chart-success": { ...common, yAxis: { type: "value", min: 0, max: 1 },
      series: [{ name: document.documentElement.lang === "en" ? "success rate" : "成功率", type: "line", data: data.success_rate, connectNulls: true }] },
  };
  for (const [id, option] of Object.entries(charts)) {
    const element = document.getElementById(id);
    if (element) echarts.init(element).setOption(option);
  }
}
document.addEventListener("DOMContentLoaded", () => {
  // echarts.min.js is deferred too; it has run by DOMContentLoaded
  drawKpi();
});
