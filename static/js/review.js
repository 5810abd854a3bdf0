/* reviewq review UI: token popovers, keyboard shortcuts, htmx glue. No build step.
   Everything here enhances server-rendered pages that work without it. Model output is only
   ever put into the DOM with textContent, never innerHTML. */
(function () {
  "use strict";
  if (window.reviewqReady) return;
  window.reviewqReady = true;

  // A conflict (409) or a refused action (422) comes with a fragment for #review-alert: swap it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "review-alert") {
      var alert = target.querySelector(".alert");
      if (alert) alert.focus();
    } else if (target && target.classList && target.classList.contains("sentence")) {
      // An outerHTML swap replaced the element: focus its replacement, so the next key acts on
      // the sentence just changed (never on the page, which would widen it to the description).
      var sentence = (target.id && document.getElementById(target.id)) || target;
      var textarea = sentence.querySelector("textarea");
      (textarea || sentence).focus();
      var alertRegion = document.getElementById("review-alert");
      if (alertRegion) alertRegion.textContent = "";
    }
  });
  // Every write bumps the description's version: keep every form on the page current.
  document.addEventListener("reviewq:version", function (event) {
    var version = String(event.detail.version);
    document.querySelectorAll('input[name="version"]').forEach(function (input) { input.value = version; });
  });

  // --- Token popover -------------------------------------------------------------------------
  var popover = null;
  var current = null;
  var hideTimer = null;

  function percent(p) {
    if (p === null || p === undefined || p === "" || isNaN(p)) return "no score";
    p = Number(p);
    if (p >= 0.995) return ">99 %";
    if (p < 0.005) return "<1 %";
    return Math.round(p * 100) + " %";
  }

  function visible(text) {
    // Show whitespace and invisible/bidi control characters instead of letting them act.
    return text.replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, function (c) {
      return "⟨U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + "⟩";
    }).replace(/\n/g, "⏎");
  }

  function sentenceOf(token) { return token.closest(".sentence"); }

  function canEdit(sentence) { return !!sentence.querySelector(".sentence-actions"); }

  function build(token) {
    var sentence = sentenceOf(token);
    var alternatives = [];
    try { alternatives = JSON.parse(token.dataset.alts || "[]"); } catch (e) { alternatives = []; }
    popover.textContent = "";
    var head = document.createElement("p");
    head.className = "pop-head";
    var word = document.createElement("strong");
    word.textContent = "“" + visible(token.textContent) + "”";
    head.appendChild(word);
    head.appendChild(document.createTextNode(" " + percent(token.dataset.p) + " probable"));
    popover.appendChild(head);
    if (token.dataset.orig !== undefined) {
      var orig = document.createElement("p");
      orig.className = "pop-orig";
      orig.textContent = "Replaced the generated “" + visible(token.dataset.orig.trim()) + "”";
      popover.appendChild(orig);
    }
    if (alternatives.length) {
      var title = document.createElement("p");
      title.className = "pop-title";
      title.textContent = canEdit(sentence) ? "Alternatives (choose to substitute):" : "Alternatives:";
      popover.appendChild(title);
      var list = document.createElement("ul");
      list.className = "pop-alts";
      alternatives.forEach(function (alt) {
        var item = document.createElement("li");
        var label = document.createElement("span");
        label.className = "alt-text";
        label.textContent = visible(String(alt[0]).trim() || String(alt[0]));
        var prob = document.createElement("span");
        prob.className = "alt-p";
        prob.textContent = percent(alt[1]);
        if (canEdit(sentence)) {
          var button = document.createElement("button");
          button.type = "button";
          button.className = "alt";
          button.dataset.alternative = String(alt[0]);
          button.appendChild(label);
          button.appendChild(prob);
          item.appendChild(button);
        } else {
          item.appendChild(label);
          item.appendChild(prob);
        }
        list.appendChild(item);
      });
      popover.appendChild(list);
    } else {
      var none = document.createElement("p");
      none.textContent = "No alternatives were recorded for this token.";
      popover.appendChild(none);
    }
    var note = document.createElement("p");
    note.className = "pop-note";
    note.textContent = "Probability is not truth.";
    popover.appendChild(note);
  }

  function place(token) {
    var rect = token.getBoundingClientRect();
    popover.style.left = Math.max(8, Math.min(window.scrollX + rect.left, window.scrollX + document.documentElement.clientWidth - popover.offsetWidth - 8)) + "px";
    popover.style.top = (window.scrollY + rect.bottom + 6) + "px";
  }

  function show(token) {
    clearTimeout(hideTimer);
    if (current === token && !popover.hidden) return;
    if (current) current.setAttribute("aria-expanded", "false");
    current = token;
    build(token);
    popover.hidden = false;
    place(token);
    token.setAttribute("aria-expanded", "true");
  }

  function hide() {
    clearTimeout(hideTimer);
    if (!popover) return;
    popover.hidden = true;
    if (current) current.setAttribute("aria-expanded", "false");
    current = null;
  }

  function hideSoon() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 250);
  }

  function substitute(button) {
    var token = current;
    if (!token) return;
    var sentence = sentenceOf(token);
    var version = document.querySelector('input[name="version"]');
    hide();
    htmx.ajax("POST", sentence.dataset.action, {
      source: sentence,
      target: "#" + sentence.id,
      swap: "outerHTML",
      values: {
        action: "substitute",
        position: token.dataset.pos,
        alternative: button.dataset.alternative,
        version: version ? version.value : "",
      },
    });
  }

  function tokensIn(scope) { return Array.prototype.slice.call(scope.querySelectorAll(".tok[data-pos]")); }

  function init() {
    popover = document.getElementById("token-popover");
    if (!popover) return;
    document.addEventListener("mouseover", function (event) {
      var token = event.target.closest && event.target.closest(".sentence .tok[data-pos]");
      if (token) show(token);
      else if (event.target.closest && event.target.closest("#token-popover")) clearTimeout(hideTimer);
    });
    document.addEventListener("mouseout", function (event) {
      var from = event.target.closest && (event.target.closest(".sentence .tok[data-pos]") || event.target.closest("#token-popover"));
      if (from && !(event.relatedTarget && event.relatedTarget.closest && from.contains(event.relatedTarget))) {
        if (!popover.contains(document.activeElement) && document.activeElement !== current) hideSoon();
      }
    });
    document.addEventListener("focusin", function (event) {
      var token = event.target.closest && event.target.closest(".sentence .tok[data-pos]");
      if (token) show(token);
      else if (!popover.contains(event.target)) hide();
    });
    popover.addEventListener("click", function (event) {
      var button = event.target.closest("button.alt");
      if (button) substitute(button);
    });
    popover.addEventListener("keydown", function (event) {
      var buttons = Array.prototype.slice.call(popover.querySelectorAll("button.alt"));
      var at = buttons.indexOf(document.activeElement);
      if (event.key === "Escape") {
        var token = current;
        hide();
        if (token) token.focus();
        event.preventDefault();
      } else if (event.key === "ArrowDown" && buttons.length) {
        buttons[(at + 1) % buttons.length].focus();
        event.preventDefault();
      } else if (event.key === "ArrowUp" && buttons.length) {
        buttons[(at - 1 + buttons.length) % buttons.length].focus();
        event.preventDefault();
      } else if (event.key === "Tab") {
        var back = current;
        hide();
        if (back) { back.focus(); }
      }
    });
    document.addEventListener("keydown", function (event) {
      var token = event.target.closest && event.target.closest(".sentence .tok[data-pos]");
      if (!token) return;
      var all = tokensIn(document.querySelector(".sentences") || document);
      var at = all.indexOf(token);
      if (event.key === "ArrowRight" && at < all.length - 1) { all[at + 1].focus(); event.preventDefault(); }
      else if (event.key === "ArrowLeft" && at > 0) { all[at - 1].focus(); event.preventDefault(); }
      else if ((event.key === "Enter" || event.key === "ArrowDown" || event.key === " ") && !popover.hidden) {
        var first = popover.querySelector("button.alt");
        if (first) { first.focus(); event.preventDefault(); }
      } else if (event.key === "Escape") { hide(); event.preventDefault(); }
    });
    window.addEventListener("resize", function () { if (current) place(current); });
  }

  // --- Keyboard shortcuts ----------------------------------------------------------------------
  function typing(target) {
    if (!target || !target.closest) return false;
    return !!target.closest("input, textarea, select, [contenteditable], dialog[open]");
  }

  function focusedSentence() {
    var active = document.activeElement;
    return active && active.closest ? active.closest(".sentence") : null;
  }

  // Escape in a sentence's edit form cancels the edit (its Cancel link swaps the sentence back).
  function editEscape(event) {
    if (event.key !== "Escape" || !event.target.closest) return;
    var form = event.target.closest(".edit-form");
    var cancel = form ? form.querySelector("[data-edit-cancel]") : null;
    if (cancel) {
      event.preventDefault();
      cancel.click();
    }
  }

  function shortcut(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // A focused reason select takes its key here rather than by the browser's type-ahead,
    // which a quick second key can miss.
    if (event.target.matches && event.target.matches("[data-category-select]")) return categoryKey(event, null);
    if (typing(event.target)) return;
    var help = document.getElementById("shortcut-help");
    var sentence = focusedSentence();
    var target = null;
    switch (event.key) {
      case "j": target = document.querySelector('[data-shortcut="j"]'); break;
      case "k": target = document.querySelector('[data-shortcut="k"]'); break;
      // a and r act on the focused sentence only. The whole description is decided with its own
      // buttons, which ask for a checked confirmation: a key never widens to it.
      case "a":
        target = sentence ? sentence.querySelector('[data-shortcut="a"]') : null;
        break;
      case "e":
        sentence = sentence || document.querySelector(".sentence.pending") || document.querySelector(".sentence");
        target = sentence ? sentence.querySelector('[data-shortcut="e"]') : null;
        break;
      case "r":
        target = sentence ? sentence.querySelector('[data-shortcut="r"]') : null;
        break;
      case "?":
        if (help && help.showModal) { help.showModal(); event.preventDefault(); }
        return;
      default:
        categoryKey(event, sentence);
        return;
    }
    if (target) {
      event.preventDefault();
      hide();
      target.click();
    }
  }

  // A category key (a digit) says why something was wrong, on what has focus only: inside the
  // edit or reject form it picks that form's reason; on a focused edited or removed sentence it
  // saves the reason at once. Anywhere else it does nothing.
  function categoryKey(event, sentence) {
    if (!/^[1-9]$/.test(event.key)) return;
    var own = event.target.closest ? event.target.closest("form") : null;
    var form = own && own.querySelector("[data-category-select]") ? own : null;
    if (!form && sentence) form = sentence.querySelector("[data-category-form]");
    var select = form ? form.querySelector("[data-category-select]") : null;
    if (!select || !select.querySelector('option[value="' + event.key + '"]')) return;
    event.preventDefault();
    hide();
    select.value = event.key;
    if (form.hasAttribute("data-category-form")) form.requestSubmit();
  }

  // Queue page: j/k move between rows, Enter opens (a plain link, so it already does).
  function queueShortcut(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key !== "j" && event.key !== "k") return;
    var links = Array.prototype.slice.call(document.querySelectorAll("a.queue-link"));
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    var next = event.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
    links[next].focus();
    event.preventDefault();
  }

  function start() {
    init();
    if (document.querySelector(".review-page")) {
      document.addEventListener("keydown", editEscape);
      document.addEventListener("keydown", shortcut);
      document.addEventListener("click", function (event) {
        var opener = event.target.closest && event.target.closest("[data-help-open]");
        var help = document.getElementById("shortcut-help");
        if (opener && help && help.showModal) help.showModal();
      });
    } else if (document.querySelector(".queue-page")) {
      document.addEventListener("keydown", queueShortcut);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
