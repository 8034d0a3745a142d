// Registers Gluon's service worker, which keeps the page's shell for the offline page.
// After the page has loaded, so that it does not compete with the page's own requests.
(() => {
  "use strict";
  if (!("serviceWorker" in navigator)) {
    return;
  }
  const register = () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
      console.warn("Gluon: the offline page is not available:", error);
    });
  };
  if (document.readyState === "complete") {
    register();
  } else {
    window.addEventListener("load", register);
  }
})();
