// Browser notifications while a Gluon page is open: when a run finishes (review, failed,
// cancelled, merged...) or needs a person (a question or a permission request). Clicking one
// opens the run. The page dispatches every live event on the document:
//
//   document.dispatchEvent(new CustomEvent("gluon:event", {detail: data}))
//
// data = {seq, kind: "RunStateChanged" | "InteractionRequested" | "InteractionAnswered",
// run_id, project, ...the event's fields}. An InteractionRequested's own kind ("question" or
// "permission") may sit in interaction_kind, or in kind when the event's name is elsewhere
// (type or event); the event is then told by its fields.
//
// An "Enable notifications" button appears while the browser has not been asked yet: in the
// page's #notify-toggle (a button, or an empty element to put one in), else in its header.
(() => {
  "use strict";
  if (!("Notification" in window)) {
    return;
  }
  const EVENTS = new Set(["RunStateChanged", "InteractionRequested", "InteractionAnswered"]);
  const ENDED = {
    review: "is ready for review",
    failed: "failed",
    cancelled: "was cancelled",
    interrupted: "was interrupted",
    merged: "was merged",
    closed: "was closed",
  };
  const ICON = "/static/pwa/icon-192.png";
  const shown = new Map(); // tag -> Notification shown by this page
  const seen = new Set(); // seqs already handled: a reconnecting stream may repeat some
  // The worker's notifications are shown and withdrawn in the order of the events, so an answer
  // that follows its question at once still finds the question's notification.
  let workerTurn = Promise.resolve();

  function throughWorker(action) {
    workerTurn = workerTurn
      .then(() => navigator.serviceWorker.ready)
      .then(action)
      .catch((error) => console.warn("Gluon: notification:", error));
  }

  function eventName(data) {
    for (const name of [data.type, data.event, data.kind]) {
      if (EVENTS.has(name)) {
        return name;
      }
    }
    if ("new" in data) {
      return "RunStateChanged";
    }
    if ("answered_by" in data) {
      return "InteractionAnswered";
    }
    return "interaction_id" in data ? "InteractionRequested" : null;
  }

  function runUrl(runId) {
    return "/runs/" + encodeURIComponent(runId);
  }

  function label(data) {
    const project = data.project ? data.project + ": " : "";
    return project + "run " + data.run_id;
  }

  // What to show for an event, or null for an event nobody needs to hear about.
  function describe(name, data) {
    if (name === "RunStateChanged" && Object.hasOwn(ENDED, data.new)) {
      return {
        title: label(data) + " " + ENDED[data.new],
        body: data.reason || "",
        tag: "gluon-run-" + data.run_id,
      };
    }
    if (name === "InteractionRequested") {
      const kind = data.interaction_kind || (EVENTS.has(data.kind) ? "" : data.kind);
      const what = kind === "permission" ? "Permission request" : "Question";
      const options = Array.isArray(data.options) && data.options.length
        ? "\n" + data.options.join(" / ") : "";
      return {
        title: label(data) + " needs you",
        body: what + ": " + (data.title || "") + options,
        tag: "gluon-ask-" + data.interaction_id,
      };
    }
    return null;
  }

  function show(note, url) {
    let notification;
    try {
      notification = new window.Notification(note.title,
        { body: note.body, tag: note.tag, icon: ICON, data: { url } });
    } catch (error) {
      // Chrome on Android lets only a service worker show notifications (its click is in sw.js).
      if ("serviceWorker" in navigator) {
        throughWorker((registration) => registration.showNotification(note.title,
          { body: note.body, tag: note.tag, icon: ICON, data: { url } }));
      }
      return;
    }
    notification.addEventListener("click", (event) => {
      event.preventDefault();
      window.focus();
      notification.close();
      window.location.assign(url);
    });
    notification.addEventListener("close", () => {
      if (shown.get(note.tag) === notification) {
        shown.delete(note.tag);
      }
    });
    shown.set(note.tag, notification);
  }

  // An answered question needs nobody any more: take its notification away.
  function withdraw(tag) {
    const notification = shown.get(tag);
    if (notification) {
      notification.close();
      shown.delete(tag);
    }
    if ("serviceWorker" in navigator && navigator.serviceWorker.controller) {
      throughWorker((registration) => registration.getNotifications({ tag })
        .then((list) => list.forEach((n) => n.close())));
    }
  }

  function onEvent(event) {
    const data = event.detail;
    if (!data || typeof data !== "object" || data.run_id == null) {
      return;
    }
    if (data.seq != null) {
      if (seen.has(data.seq)) {
        return;
      }
      seen.add(data.seq);
      if (seen.size > 1000) {
        seen.delete(seen.values().next().value);
      }
    }
    const name = eventName(data);
    if (name === "InteractionAnswered") {
      withdraw("gluon-ask-" + data.interaction_id);
      return;
    }
    const note = describe(name, data);
    if (note && window.Notification.permission === "granted") {
      show(note, runUrl(data.run_id));
    }
  }

  function setUpToggle() {
    const slot = document.getElementById("notify-toggle");
    let button = slot && slot.tagName === "BUTTON" ? slot : null;
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      if (slot) {
        slot.appendChild(button);
      } else {
        button.id = "notify-toggle";
        (document.querySelector("header") || document.body).appendChild(button);
      }
    }
    button.classList.add("notify-toggle");
    if (!button.textContent.trim()) {
      button.textContent = "Enable notifications";
    }
    button.title = "Show a notification when a run finishes or needs you, while a Gluon page "
      + "is open";
    const refresh = () => {
      button.hidden = window.Notification.permission !== "default";
    };
    button.addEventListener("click", () => {
      const asked = window.Notification.requestPermission(refresh);
      if (asked && typeof asked.then === "function") {
        asked.then(refresh, refresh);
      }
    });
    refresh();
    if (navigator.permissions) {
      navigator.permissions.query({ name: "notifications" })
        .then((status) => status.addEventListener("change", refresh))
        .catch(() => {});
    }
  }

  document.addEventListener("gluon:event", onEvent);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpToggle);
  } else {
    setUpToggle();
  }
})();
