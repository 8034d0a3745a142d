// The status page's script: live updates over Server-Sent Events, nothing else. The page
// works without it (forms post, links navigate); with it, the board and a run's log follow
// what happens without reloading. It never polls: the server pushes.
(() => {
  "use strict";
  const body = document.body;
  const page = body.dataset.page;

  const token = document.querySelector('meta[name="csrf-token"]');

  // Parts of the page pushed by the server carry no CSRF token: this page's goes in.
  function fragment(text) {
    const t = document.createElement("template");
    t.innerHTML = text.trim();
    t.content.querySelectorAll('input[name="csrf"]').forEach((input) => {
      if (!input.value && token) input.value = token.content;
    });
    return t.content;
  }

  // Replace an element's content, unless the person is typing in it: then once they leave.
  function swap(el, text) {
    if (!el) return;
    const active = document.activeElement;
    if (active && el.contains(active) && active.tagName === "INPUT" && active.value) {
      el.dataset.later = text;
      el.addEventListener("focusout", () => {
        if (el.dataset.later !== undefined) { swap(el, el.dataset.later); }
      }, { once: true });
      return;
    }
    delete el.dataset.later;
    el.replaceChildren(fragment(text));
  }

  function ago(at) {
    const s = Math.max(0, Date.now() / 1000 - at);
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function refreshAges() {
    document.querySelectorAll("time[data-at]").forEach((t) => {
      t.textContent = ago(Number(t.dataset.at));
    });
  }

  function announce(event) {
    document.dispatchEvent(new CustomEvent("gluon:event", { detail: event }));
  }

  // A stream the server refused (signed out, session over): show why, once.
  function watch(source) {
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) setTimeout(() => location.reload(), 3000);
    };
  }

  function countCards() {
    document.querySelectorAll(".column").forEach((col) => {
      const count = col.querySelector("h2 .count");
      if (count) count.textContent = col.querySelectorAll(".card").length;
    });
  }

  function patchBoard(patch) {
    for (const card of patch.cards) {
      const old = document.getElementById("run-" + card.id);
      if (old) old.remove();
      const column = card.column && document.querySelector("#col-" + card.column + " .cards");
      if (column) column.prepend(fragment(card.html));
    }
    const done = document.getElementById("col-done");
    if (done) {
      const cards = done.querySelectorAll(".card");
      for (let i = Number(done.dataset.keep || 20); i < cards.length; i++) cards[i].remove();
    }
    countCards();
    for (const [id, text] of Object.entries(patch.panels)) {
      swap(document.getElementById("panel-" + id), text);
    }
  }

  // Browsers open at most six connections to one host, and each open page's stream holds
  // one: a page in the background lets go of its stream (unless it is the one page that
  // keeps notifying) and picks it up again where it left off when it is shown.
  let notifier = false;
  if (navigator.locks) {
    navigator.locks.request("gluon-notifier", () => new Promise(() => { notifier = true; }));
  }

  function live(url, attach) {
    let source = null;
    let last = null;
    const seen = (message) => { if (message.lastEventId) last = message.lastEventId; };
    const open = () => {
      const at = new URL(url, location.href);
      if (last !== null) at.searchParams.set("after", last);
      source = new EventSource(at);
      attach(source, seen);
      watch(source);
    };
    document.addEventListener("visibilitychange", () => {
      if (document.hidden && source && !notifier) {
        source.close();
        source = null;
      } else if (!document.hidden && !source) {
        open();
      }
    });
    open();
  }

  function board() {
    live(body.dataset.stream, (source, seen) => {
      source.onmessage = (message) => {
        seen(message);
        const data = JSON.parse(message.data);
        if (data.patch) patchBoard(data.patch);
        announce(data.event);
      };
      source.addEventListener("reload", () => { source.close(); location.reload(); });
    });
  }

  function run() {
    const log = document.getElementById("log");
    live(body.dataset.stream, (source, seen) => {
      source.addEventListener("log", (message) => {
        seen(message);
        const data = JSON.parse(message.data);
        if (document.getElementById("e" + message.lastEventId)) return;
        const bottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
        const waiting = data.attach && log.querySelector("li.tool.open");
        if (waiting) {
          waiting.querySelector("details").append(fragment(data.attach));
          waiting.classList.remove("open");
          if (data.kind === "tool_error") waiting.classList.add("failed");
        } else {
          if (data.kind === "result" || data.kind === "interrupt") {
            log.querySelectorAll("li.tool.open").forEach((li) => li.classList.remove("open"));
          }
          log.append(fragment(data.html));
        }
        if (bottom) window.scrollTo(0, document.body.scrollHeight);
      });
      source.addEventListener("run", (message) => {
        const data = JSON.parse(message.data);
        swap(document.getElementById("run-head"), data.head);
        swap(document.getElementById("pending"), data.pending);
        body.dataset.state = data.state;
      });
      source.addEventListener("state", (message) => announce(JSON.parse(message.data)));
    });
  }

  // SameSite=Strict keeps the session cookie off a page opened from another site (a chat
  // app): try once more from this page, which sends it.
  if (page === "signin" && body.dataset.mode === "stranger") {
    if (!sessionStorage.getItem("gluon-retried")) {
      sessionStorage.setItem("gluon-retried", "1");
      location.replace(location.href);
    }
  } else {
    sessionStorage.removeItem("gluon-retried");
  }
  if (page === "board") board();
  if (page === "run") run();
  setInterval(refreshAges, 30000);
})();
