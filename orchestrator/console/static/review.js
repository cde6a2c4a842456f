// The review page by keyboard alone (the keys are listed on the page): j/k or the arrows move
// between fields, c or Enter types a correction, a / f accept the system's / the document's
// values, s saves the corrections, r rejects (with a reason), y approves another reviewer's
// change, n opens the next item. Every key presses one of the page's own buttons or links.
"use strict";

(() => {
  const rows = () => [...document.querySelectorAll("#fields tr.field")];
  const form = document.getElementById("decide");
  const press = (choice) => {
    const button = form && form.querySelector(`button[name=choice][value="${choice}"]`);
    if (button) form.requestSubmit(button);
  };
  const move = (step) => {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(document.activeElement.closest("tr.field"));
    all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))].focus();
  };

  document.addEventListener("DOMContentLoaded", () => {
    const first = rows()[0];
    if (first) first.focus();
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement) {
      if (event.key === "Escape") {
        const row = target.closest("tr.field");
        if (row) row.focus(); else target.blur();
        event.preventDefault();
      } else if (event.key === "Enter") {
        event.preventDefault();
        press(target.id === "reject-reason" ? "reject" : "correct");
      }
      return;
    }
    if (target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
    const key = event.key;
    const act = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      a: () => press("accept-record"), f: () => press("accept-found"),
      s: () => press("correct"),
      r: () => { const reason = document.getElementById("reject-reason"); if (reason) reason.focus(); },
      y: () => { const approve = document.getElementById("approve"); if (approve) approve.requestSubmit(); },
      n: () => { const next = document.getElementById("next-review"); if (next) next.click(); },
    }[key];
    const row = target instanceof Element ? target.closest("tr.field") : null;
    if (!act && (key === "c" || key === "Enter") && row) {
      const input = row.querySelector("input");
      if (input) { event.preventDefault(); input.focus(); input.select(); }
      return;
    }
    if (act) { event.preventDefault(); act(); }
  });
})();
