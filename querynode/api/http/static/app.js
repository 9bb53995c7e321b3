// Progressive enhancement only: the pages work without this file.
"use strict";

// An identifier as typed or pasted: full-width letters and digits (IME) to ASCII, spaces
// around it dropped, letters upper-case (522x -> 522X). The server does the same.
const normaliseCode = (value) =>
  value.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .replace(/\u3000/g, " ").trim().toUpperCase();

document.addEventListener("DOMContentLoaded", () => {
  // Stop double submission while a lookup runs, and say so.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = "处理中…"; }
    });
  }
  // Normalise identifiers as they are typed or pasted (before the server's length check).
  document.addEventListener("input", (event) => {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.classList.contains("code")) {
      const clean = normaliseCode(input.value);
      if (clean !== input.value) { input.value = clean; }
    }
  });
  // Switching lookup keeps 受理编号 and 查询事由 (neither is personal data).
  for (const link of document.querySelectorAll("nav.kinds a[data-base]")) {
    link.addEventListener("click", () => {
      const params = new URLSearchParams();
      const number = document.getElementById("case_number");
      const purpose = document.getElementById("purpose");
      if (number && number.value) { params.set("case_number", number.value.trim()); }
      if (purpose && purpose.value) { params.set("purpose", purpose.value); }
      link.href = link.dataset.base + (params.toString() ? "?" + params : "");
    });
  }
  // Bring the result into view after a lookup.
  const result = document.getElementById("result");
  if (result) { result.scrollIntoView({ block: "start" }); }
});

// Case form: the roles of the chosen registration type only, the case-level fields it uses,
// and party rows that can be added and removed.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("case-form");
  const type = document.getElementById("registration_type");
  const body = document.querySelector("#parties tbody");
  if (!form || !type || !body) { return; }
  const rolesOf = () => JSON.parse(type.selectedOptions[0].dataset.roles || "[]");
  const fillRoles = (select, index) => {
    const roles = rolesOf();
    const keep = select.value;
    select.replaceChildren(...roles.map(([key, label]) => new Option(label, key)));
    const keys = roles.map(([key]) => key);
    // Row 1 the first role, later rows the second (co-buyers, heirs), as the server renders them.
    select.value = keys.includes(keep) && select.dataset.touched ? keep : keys[Math.min(index, 1, keys.length - 1)];
  };
  const renumber = () => {
    body.querySelectorAll("tr.party").forEach((row, i) => {
      row.querySelector("td.no").textContent = String(i + 1);
      for (const field of row.querySelectorAll("[aria-label]")) {
        field.setAttribute("aria-label", field.getAttribute("aria-label").replace(/第 \d+ 行/, "第 " + (i + 1) + " 行")
          .replace(/删除第 \d+ 行/, "删除第 " + (i + 1) + " 行"));
      }
    });
  };
  const applyType = () => {
    body.querySelectorAll("tr.party select").forEach((select, i) => fillRoles(select, i));
    const uses = (type.selectedOptions[0].dataset.case || "").split(" ");
    for (const kind of ["judgment", "place_name"]) {
      for (const el of form.querySelectorAll(".case-field." + kind)) {
        el.hidden = !uses.includes(kind);
        if (el instanceof HTMLInputElement) { el.disabled = el.hidden; }
      }
    }
  };
  body.addEventListener("change", (event) => {
    if (event.target instanceof HTMLSelectElement) { event.target.dataset.touched = "1"; }
  });
  type.addEventListener("change", applyType);
  document.getElementById("add-party").addEventListener("click", () => {
    const rows = body.querySelectorAll("tr.party");
    if (rows.length >= 20) { return; }
    const next = Math.max(...[...body.querySelectorAll("select")].map((s) => Number(s.name.match(/^p(\d+)_/)[1]))) + 1;
    const row = rows[rows.length - 1].cloneNode(true);
    for (const field of row.querySelectorAll("[name]")) {
      field.name = field.name.replace(/^p\d+_/, "p" + next + "_");
      if (field instanceof HTMLInputElement) { field.value = ""; }
      delete field.dataset.touched;
    }
    body.append(row);
    renumber();
    fillRoles(row.querySelector("select"), rows.length);
    row.querySelector("input").focus();
  });
  body.addEventListener("click", (event) => {
    const button = event.target.closest(".remove-party");
    if (!button || body.querySelectorAll("tr.party").length <= 1) { return; }
    button.closest("tr").remove();
    renumber();
  });
  applyType();
});

// Case check: show each check as the node finishes it (server-sent events over a POST), then
// the result as the server renders it. Without fetch streaming the form posts normally.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("case-form");
  if (!form || !window.fetch || !window.ReadableStream || !window.TextDecoder) { return; }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    for (const old of document.querySelectorAll("#result, #errors, #progress, #session-expired")) { old.remove(); }
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
    const expired = () => {
      // The idle time-out ended the session: say so, keep the form as it is, log in elsewhere.
      progress.remove();
      const box = document.createElement("section");
      box.id = "session-expired";
      box.className = "alert attention";
      box.setAttribute("role", "alert");
      add(box, "p", "会话已超时（闲置 15 分钟自动退出），本次核验未执行。表单内容已保留：");
      const link = add(add(box, "p", ""), "a", "在新标签页重新登录");
      link.href = "/login";
      link.target = "_blank";
      link.rel = "noopener";
      add(box, "p", "登录后回到本页，再次点击「核验」即可。");
      form.after(box);
    };
    const handle = (name, data) => {
      if (name === "check") {
        const item = add(list, "li", "", "check");
        add(item, "span", data.badge, "badge " + data.tone);
        add(item, "span", data.item + "（" + data.department + "）：" + data.summary);
      } else if (name === "summary") {
        const holder = document.createElement("template");
        holder.innerHTML = data.html;  // the server's own partial, already escaped and masked
        progress.replaceWith(holder.content);
      } else if (name === "invalid") {
        progress.remove();
        const box = document.createElement("div");
        box.className = "alert bad";
        box.id = "errors";
        box.setAttribute("role", "alert");
        add(box, "p", "请更正后重新提交：");
        const errors = add(box, "ul", "");
        for (const text of data.errors) { add(errors, "li", text); }
        form.after(box);
      }
    };
    try {
      const response = await fetch("/cases/stream", { method: "POST", body: new FormData(form), credentials: "same-origin" });
      const streamed = (response.headers.get("Content-Type") || "").startsWith("text/event-stream");
      if (response.redirected || (response.ok && !streamed)) { expired(); return; }
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
