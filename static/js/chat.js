// Measures, in the browser, what the user saw: time to first token and total time per answer.
(function () {
  let sentAt = null;
  let firstTokenAt = null;

  document.addEventListener("htmx:wsBeforeSend", function (event) {
    const form = event.detail.elt;
    if (form && form.id === "composer") { sentAt = performance.now(); firstTokenAt = null; }
  });

  // The composer clears once sent (no inline hx-on: the Content-Security-Policy allows no eval).
  document.addEventListener("htmx:wsAfterSend", function (event) {
    const form = event.detail.elt;
    if (form && form.id === "composer") form.reset();
  });

  // Upload progress on the documents page.
  function uploadProgress(value) {
    const progress = document.getElementById("upload-progress");
    if (progress) progress.value = value;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.id === "upload-form") uploadProgress(0);
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    if (event.detail.elt.id === "upload-form" && event.detail.total) {
      uploadProgress(Math.round(event.detail.loaded * 100 / event.detail.total));
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt.id === "upload-form" && event.detail.successful) {
      event.detail.elt.reset();
      uploadProgress(100);
    }
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
