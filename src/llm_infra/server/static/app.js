"use strict";
// The status page: the admin key is entered once and kept in sessionStorage (this tab only).
(function () {
  const KEY = "llm-infra-admin-key";
  const $ = (id) => document.getElementById(id);
  let timer = null;

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "-" : String(text);
    row.appendChild(td);
    return td;
  }

  function fill(tableId, rows, render) {
    const body = $(tableId).querySelector("tbody");
    body.replaceChildren();
    for (const item of rows) {
      const tr = document.createElement("tr");
      render(tr, item);
      body.appendChild(tr);
    }
  }

  function bytes(n) {
    if (typeof n !== "number") return "-";
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return n.toFixed(i ? 1 : 0) + " " + units[i];
  }

  function render(data) {
    $("tenant").textContent = data.tenant;
    $("backend").textContent = data.backend;
    $("rate").textContent = data.requests.per_second.toFixed(2);
    $("total").textContent = data.requests.total;
    const health = $("health");
    health.textContent = data.health.state;
    health.className = "badge " + data.health.state;
    fill("collections", data.collections, (tr, c) => {
      cell(tr, c.name); cell(tr, c.count); cell(tr, c.dimensions); cell(tr, c.distance);
      cell(tr, c.indexed); cell(tr, c.pending); cell(tr, c.pending ? "indexing" : (c.index_fresh ? "indexed, saved" : "indexed"));
      cell(tr, bytes(c.disk_bytes));
    });
    fill("jobs", data.jobs, (tr, j) => {
      cell(tr, j.id); cell(tr, j.kind); cell(tr, j.collection); cell(tr, j.status);
      const td = cell(tr, "");
      const bar = document.createElement("progress");
      bar.max = 1; bar.value = j.progress;
      td.appendChild(bar);
      td.append(" " + Math.round(j.progress * 100) + "%");
    });
    $("checks").textContent = JSON.stringify({ capabilities: data.health.capabilities, checks: data.health.checks }, null, 2);
    fill("audit", data.audit, (tr, e) => {
      cell(tr, e.timestamp); cell(tr, e.type);
      cell(tr, e.identity || e.accessor || e.changed_by);
      cell(tr, e.resource || e.endpoint || e.secret_id || e.key || e.method);
      let outcome = e.operation || "";
      if (e.type === "ConfigChange") outcome = "changed";
      if (e.granted !== undefined) outcome = e.granted ? "granted" : "denied";
      if (e.success !== undefined) outcome = e.success ? "ok" : "refused (" + (e.reason || "") + ")";
      if (e.type === "RateLimitExceeded") outcome = "limited";
      cell(tr, outcome);
    });
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + ".";
  }

  async function refresh() {
    const key = sessionStorage.getItem(KEY);
    if (!key) return showLogin("");
    let response;
    try {
      response = await fetch("/v1/status", { headers: { Authorization: "Bearer " + key } });
    } catch (err) {
      $("health").textContent = "unreachable";
      $("health").className = "badge unhealthy";
      return;
    }
    if (response.status === 401 || response.status === 403) {
      sessionStorage.removeItem(KEY);
      const problem = await response.json().catch(() => ({}));
      return showLogin((problem.title || "Refused") + " (" + (problem.code || response.status) + ")");
    }
    if (!response.ok) return;
    render(await response.json());
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("signout").hidden = false;
  }

  function showLogin(message) {
    $("login").hidden = false;
    $("dashboard").hidden = true;
    $("signout").hidden = true;
    $("login-error").textContent = message;
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    refresh();
  });
  $("signout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(""); });

  refresh();
  timer = setInterval(refresh, 5000);
  window.addEventListener("beforeunload", () => clearInterval(timer));
})();
