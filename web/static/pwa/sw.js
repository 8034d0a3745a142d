// Gluon's service worker, served as /sw.js so that it controls the whole site.
// /sw.js fills in VERSION (a hash of the static files) and SHELL (the URLs to keep): a changed
// file makes a new worker, which installs a new cache and drops the old one.
//
// - Navigations go to the network; when it cannot be reached, the offline page answers.
//   Pages are never cached: they hold data, and a stale board would mislead.
// - Static files (/static/...) and the shell come from the cache first.
// - Live event streams (/events, /runs/<id>/events), POSTs and other hosts are left alone.
"use strict";

const VERSION = "__GLUON_VERSION__";
const SHELL = ["__GLUON_SHELL__"];
const CACHE = "gluon-shell-" + VERSION;
const OFFLINE = "/offline.html";
// What a proxy in front of Gluon answers while Gluon itself is down (a 503 may be Gluon's own
// page, which says more than the offline page would).
const UNREACHABLE = new Set([502, 504]);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names
        .filter((name) => name.startsWith("gluon-") && name !== CACHE)
        .map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

function isStream(url, request) {
  return url.pathname === "/events" || /^\/runs\/[^/]+\/events$/.test(url.pathname)
    || (request.headers.get("Accept") || "").includes("text/event-stream");
}

async function navigate(request) {
  try {
    const response = await fetch(request);
    if (!UNREACHABLE.has(response.status)) {
      return response;
    }
    return (await caches.match(OFFLINE)) || response;
  } catch (error) {
    const offline = await caches.match(OFFLINE);
    if (offline) {
      return offline;
    }
    throw error;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  // The cache belongs to one version of the files, so a ?v= in the URL adds nothing.
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit) {
    return hit;
  }
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    await cache.put(request, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || isStream(url, request)) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(navigate(request));
  } else if (url.pathname.startsWith("/static/") || SHELL.includes(url.pathname)) {
    event.respondWith(cacheFirst(request));
  }
});

// A notification shown through the worker (phones allow no other kind) opens its run: the
// window already showing it, else a new one. Only Gluon's own pages are opened.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const wanted = new URL((event.notification.data && event.notification.data.url) || "/",
    self.location.origin);
  const url = wanted.origin === self.location.origin ? wanted.href : self.location.origin + "/";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => client.url === url && "focus" in client);
      return open ? open.focus() : self.clients.openWindow(url);
    }),
  );
});
