// Progressive enhancement only: the pages work without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Stop double submission while a lookup runs, and say so.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = "处理中…"; }
    });
  }
  // Bring the result into view after a lookup.
  const result = document.getElementById("result");
  if (result) { result.scrollIntoView({ block: "start" }); }
});
