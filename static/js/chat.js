// Measures, in the browser, what the user saw: time to first token and total time per answer.
(function () {
  let sentAt = null;
  let firstTokenAt = null;

  document.addEventListener("htmx:wsBeforeSend", function (event) {
    const form = event.detail.elt;
    if (form && form.id === "composer") { sentAt = performance.now(); firstTokenAt = null; }
  });

  document.addEventListener("keydown", function (event) {
    const area = event.target;
    if (area.matches && area.matches("#composer textarea") && event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      area.form.requestSubmit();
    }
  });

  function observe(messages) {
    new MutationObserver(function (mutations) {
      for (const mutation of mutations) {
        const target = mutation.target.nodeType === 1 ? mutation.target : mutation.target.parentElement;
        const streaming = target && target.closest && target.closest('article[data-state="streaming"]');
        if (streaming && sentAt !== null && firstTokenAt === null && streaming.textContent.trim()) {
          firstTokenAt = performance.now();
        }
        for (const node of mutation.addedNodes) {
          if (node.nodeType === 1 && node.matches('article.assistant:not([data-state="streaming"])')) {
            finish(node);
          }
        }
      }
      window.scrollTo(0, document.body.scrollHeight);
    }).observe(messages, { childList: true, subtree: true, characterData: true });
  }

  function finish(article) {
    if (sentAt === null) return;
    const now = performance.now();
    const seen = article.querySelector(".seen");
    const ttft = firstTokenAt === null ? null : Math.round(firstTokenAt - sentAt);
    article.dataset.seenTtftMs = ttft === null ? "" : String(ttft);
    article.dataset.seenTotalMs = String(Math.round(now - sentAt));
    if (seen) {
      seen.textContent = "seen here: " + (ttft === null ? "" : "TTFT " + ttft + " ms, ") +
        "total " + Math.round(now - sentAt) + " ms";
    }
    sentAt = null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    const messages = document.getElementById("messages");
    if (messages) observe(messages);
  });
})();
