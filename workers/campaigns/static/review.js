// maydo review page: filters, search, compare, approve / reject / re-render / export.
// Vanilla JS, no dependencies, loaded as a file (no inline script), so a strict CSP allows it.
(function () {
  "use strict";
  var body = document.body;
  var api = body.getAttribute("data-api");  // set only when the API serves the page
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  var options = {};
  try { options = JSON.parse(document.getElementById("maydo-options").textContent || "{}"); } catch (e) { options = {}; }
  var notice = document.getElementById("notice");
  var keyInput = document.getElementById("api-key");
  if (keyInput) {
    keyInput.value = sessionStorage.getItem("maydo-key") || "";
    keyInput.addEventListener("change", function () { sessionStorage.setItem("maydo-key", keyInput.value.trim()); });
  }

  function say(text, bad) {
    notice.textContent = text;
    notice.className = bad ? "notice bad" : "notice";
  }

  // Colour swatches: set through the CSSOM (no inline style attributes).
  Array.prototype.forEach.call(document.querySelectorAll(".swatch[data-hex]"), function (el) {
    el.style.background = el.getAttribute("data-hex");
  });

  // --- filters and search -------------------------------------------------------------------
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var q = document.getElementById("q");
  function applyFilters() {
    var text = (q.value || "").trim().toLowerCase();
    var shown = 0;
    cards.forEach(function (card) {
      var ok = selects.every(function (s) { return !s.value || card.getAttribute("data-" + s.getAttribute("data-filter")) === s.value; });
      if (ok && text) { ok = (card.getAttribute("data-search") || "").indexOf(text) >= 0; }
      card.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById("shown").textContent = shown + " of " + cards.length + " shown";
  }
  selects.forEach(function (s) { s.addEventListener("change", applyFilters); });
  q.addEventListener("input", applyFilters);
  document.getElementById("toolbar").addEventListener("submit", function (ev) { ev.preventDefault(); });
  applyFilters();

  // --- compare a customer's variants side by side ---------------------------------------------
  var compare = document.getElementById("compare");
  document.getElementById("compare-close").addEventListener("click", function () { compare.hidden = true; });
  function openCompare(card) {
    var box = document.getElementById("compare-body");
    box.textContent = "";
    Array.prototype.forEach.call(card.querySelectorAll(".variant"), function (fig) {
      var copy = fig.cloneNode(true);
      Array.prototype.forEach.call(copy.querySelectorAll("video"), function (v) { v.removeAttribute("autoplay"); });
      box.appendChild(copy);
    });
    document.getElementById("compare-title").textContent = card.querySelector("h2").firstChild.textContent;
    compare.hidden = false;
  }

  // --- review actions through the API ---------------------------------------------------------
  function call(method, url, payload) {
    var key = keyInput ? keyInput.value.trim() : "";
    if (!key) { return Promise.reject(new Error("enter a creator API key in the toolbar first")); }
    sessionStorage.setItem("maydo-key", key);
    return fetch(url, {
      method: method,
      headers: {"Content-Type": "application/json", "X-API-Key": key},
      body: payload === undefined ? undefined : JSON.stringify(payload)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var err = (data && data.error) || {};
          throw new Error((err.field ? err.field + ": " : "") + (err.message || ("HTTP " + resp.status)));
        }
        return data;
      });
    });
  }

  function setReview(card, state, comment, who) {
    card.setAttribute("data-review", state);
    var badge = card.querySelector(".review-badge");
    badge.textContent = state;
    badge.className = "review-badge " + state;
    var note = card.querySelector(".review-note");
    note.hidden = !comment;
    note.textContent = state + (who ? " by " + who : "") + ": ";
    var span = document.createElement("span");
    span.className = "comment";
    span.textContent = comment || "";
    note.appendChild(span);
    applyFilters();
  }

  function fillSelect(sel, values, current) {
    sel.textContent = "";
    values.forEach(function (v) {
      var opt = document.createElement("option");
      opt.value = v; opt.textContent = v;
      if (v === current) { opt.selected = true; }
      sel.appendChild(opt);
    });
  }

  cards.forEach(function (card) {
    var customer = card.getAttribute("data-customer");
    var btn = card.querySelector(".compare-btn");
    if (btn) { btn.addEventListener("click", function () { openCompare(card); }); }
    if (!api) { return; }
    var adUrl = api + "/ads/" + encodeURIComponent(customer);
    var comment = card.querySelector(".comment-in");
    function review(state) {
      var text = comment ? comment.value.trim() : "";
      call("POST", adUrl + "/review", {state: state, comment: text}).then(function (data) {
        setReview(card, data.review.state, data.review.comment, data.review.reviewer);
        say(customer + ": " + data.review.state);
      }).catch(function (err) { say(customer + ": " + err.message, true); });
    }
    var approve = card.querySelector(".approve");
    var reject = card.querySelector(".reject");
    if (approve) { approve.addEventListener("click", function () { review("approved"); }); }
    if (reject) { reject.addEventListener("click", function () { review("rejected"); }); }
    var rr = card.querySelector(".rerender");
    if (rr) {
      var sku = card.getAttribute("data-sku");
      fillSelect(rr.querySelector(".rr-colourway"), (options.colourways || {})[sku] || [], card.getAttribute("data-colourway"));
      fillSelect(rr.querySelector(".rr-accent"), options.accents || [], card.getAttribute("data-accent"));
      fillSelect(rr.querySelector(".rr-tone"), options.tones || [], card.getAttribute("data-tone"));
      rr.querySelector(".rerender-btn").addEventListener("click", function () {
        var payload = {
          colourway: rr.querySelector(".rr-colourway").value,
          accent: rr.querySelector(".rr-accent").value,
          tone: rr.querySelector(".rr-tone").value,
          comment: comment ? comment.value.trim() : ""
        };
        call("POST", adUrl + "/rerender", payload).then(function (data) {
          card.setAttribute("data-status", "pending");
          var st = card.querySelector(".status");
          st.textContent = "pending"; st.className = "status pending";
          setReview(card, "rerendering", payload.comment, "");
          say(customer + ": re-render queued as job " + data.job_id + "; reload when it is done");
        }).catch(function (err) { say(customer + ": " + err.message, true); });
      });
    }
  });

  // Export links need the key too: fetch, then save the blob.
  ["export-csv", "export-zip"].forEach(function (id) {
    var link = document.getElementById(id);
    if (!link || !api) { return; }
    link.addEventListener("click", function (ev) {
      ev.preventDefault();
      var key = keyInput ? keyInput.value.trim() : "";
      fetch(link.href, {headers: {"X-API-Key": key}}).then(function (resp) {
        if (!resp.ok) { throw new Error("export failed: HTTP " + resp.status); }
        var count = resp.headers.get("X-Maydo-Approved") || "?";
        return resp.blob().then(function (blob) {
          var a = document.createElement("a");
          a.href = URL.createObjectURL(blob);
          a.download = body.getAttribute("data-campaign") + "-approved." + (id === "export-csv" ? "csv" : "zip");
          document.body.appendChild(a); a.click(); a.remove();
          say("exported " + count + " approved ads (" + blob.size + " bytes)");
        });
      }).catch(function (err) { say(err.message, true); });
    });
  });
})();
