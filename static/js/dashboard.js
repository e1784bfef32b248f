// Dashboard: show the socket's state; each new trace arrives as a row (htmx ws, out of band),
// and the figures refresh at most once every two seconds while traces keep coming.
(function () {
  const REFRESH_MS = 2000;
  const MAX_ROWS = 50;
  let lastRefresh = 0;
  let pending = null;

  function state(text, value) {
    const badge = document.getElementById("live-state");
    if (badge) { badge.textContent = text; badge.dataset.state = value; }
  }

  function refresh() {
    pending = null;
    lastRefresh = Date.now();
    const body = document.getElementById("dashboard-body");
    if (body && window.htmx) htmx.trigger(body, "refresh");
  }

  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(refresh, Math.max(0, lastRefresh + REFRESH_MS - Date.now()));
  }

  // Waterfall bars carry their place as data: the Content-Security-Policy refuses style="".
  function barsPlace(root) {
    for (const bar of root.querySelectorAll(".bar[data-left]")) {
      bar.style.left = bar.dataset.left + "%";
      bar.style.width = bar.dataset.width + "%";
    }
  }
  document.addEventListener("DOMContentLoaded", function () { barsPlace(document); });
  document.addEventListener("htmx:afterSettle", function (event) { barsPlace(event.detail.elt); });

  document.addEventListener("htmx:wsOpen", function () { state("live", "live"); });
  document.addEventListener("htmx:wsClose", function () { state("reconnecting…", "closed"); });
  document.addEventListener("htmx:wsAfterMessage", function () {
    const rows = document.querySelectorAll("#recent-rows > tr");
    for (let i = MAX_ROWS; i < rows.length; i++) rows[i].remove();
    refreshSoon();
  });
})();
