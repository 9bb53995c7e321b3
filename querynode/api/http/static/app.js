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

// Case check: show each check as the node finishes it (server-sent events over a POST), then
// the conclusion. Without fetch streaming the form posts normally and the page comes at the end.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("case-form");
  if (!form || !window.fetch || !window.ReadableStream || !window.TextDecoder) { return; }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    for (const old of document.querySelectorAll("#result, #errors, #progress")) { old.remove(); }
    const progress = document.createElement("section");
    progress.id = "progress";
    progress.className = "result";
    progress.setAttribute("aria-live", "polite");
    const heading = document.createElement("h2");
    heading.textContent = "核验进行中…";
    const list = document.createElement("ul");
    list.id = "progress-checks";
    progress.append(heading, list);
    form.after(progress);
    const add = (parent, tag, text, className) => {
      const node = document.createElement(tag);
      node.textContent = text;
      if (className) { node.className = className; }
      parent.append(node);
      return node;
    };
    const handle = (name, data) => {
      if (name === "check") {
        const item = add(list, "li", "", "check");
        add(item, "span", data.badge, "badge " + data.tone);
        add(item, "span", " " + data.summary);
      } else if (name === "summary") {
        heading.textContent = "核验结论：";
        add(heading, "span", data.status, "badge " + data.tone).id = "case-status";
        if (data.findings.length) {
          add(progress, "h3", "核验发现");
          const findings = add(progress, "ol", "");
          findings.id = "findings";
          for (const text of data.findings) { add(findings, "li", text); }
        }
        if (data.by_hand.length) {
          add(progress, "h3", "须人工核验");
          const hand = add(progress, "ul", "");
          hand.id = "by-hand";
          for (const text of data.by_hand) { add(hand, "li", text); }
        }
        const link = add(add(progress, "p", ""), "a", "打印核验记录");
        link.href = "/records/" + data.record_id + "/print";
        link.id = "print-link";
      } else if (name === "invalid") {
        heading.textContent = "请更正后重新提交：";
        const errors = add(progress, "ul", "");
        errors.id = "errors";
        for (const text of data.errors) { add(errors, "li", text); }
      }
    };
    try {
      const response = await fetch("/cases/stream", { method: "POST", body: new FormData(form), credentials: "same-origin" });
      if (!response.ok || !response.body) { form.submit(); return; }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) { break; }
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = (frame.match(/^event: (.*)$/m) || [])[1];
          const data = (frame.match(/^data: (.*)$/m) || [])[1];
          if (name && data) { handle(name, JSON.parse(data)); }
        }
      }
    } finally {
      if (button) { button.disabled = false; button.textContent = "核验"; }
    }
  });
});
