// Driver KB: small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    return el.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  // "/" focuses the search box, as on many documentation sites.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    var box = document.getElementById("q");
    if (!box) return;
    event.preventDefault();
    box.focus();
    box.select();
  });
})();

// Onboarding: learning-path progress kept in localStorage (no login), the glossary filter, term tooltips.
(function () {
  "use strict";

  var PREFIX = "driverkb:progress:";

  // One key per path and step, e.g. "driverkb:progress:first-kmdf-driver:hello-world" = "1".
  function key(path, step) { return PREFIX + path + ":" + step; }

  // localStorage throws when storage is disabled (some private modes): progress is then simply not kept.
  function isDone(path, step) {
    try { return window.localStorage.getItem(key(path, step)) === "1"; } catch (e) { return false; }
  }

  function setDone(path, step, done) {
    try {
      if (done) window.localStorage.setItem(key(path, step), "1");
      else window.localStorage.removeItem(key(path, step));
    } catch (e) { /* not kept */ }
  }

  function stepsOf(el) { return (el.getAttribute("data-steps") || "").split(" ").filter(Boolean); }

  function doneSteps(path, steps) { return steps.filter(function (s) { return isDone(path, s); }); }

  function all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  // Progress bars on path cards and on the path page: "3 of 12 done".
  function renderProgress() {
    all(".path-progress[data-path]").forEach(function (box) {
      var path = box.getAttribute("data-path");
      var steps = stepsOf(box);
      var done = doneSteps(path, steps).length;
      var bar = box.querySelector("progress");
      if (bar) bar.value = done;
      var text = box.querySelector(".progress-text");
      if (text) text.textContent = done + " of " + steps.length + " done";
      box.hidden = false;
    });
  }

  // The path page: one checkbox per step, a "continue" link to the first step not done yet.
  function renderSteps() {
    var list = document.querySelector("ol.steps[data-path]");
    if (!list) return;
    var path = list.getAttribute("data-path");
    var next = null;
    all("li.step", list).forEach(function (item) {
      var step = item.getAttribute("data-step");
      var done = isDone(path, step);
      var box = item.querySelector("input.step-done");
      if (box) {
        box.checked = done;
        box.closest("label").hidden = false;
      }
      item.classList.toggle("is-done", done);
      if (!done && !next) next = item;
    });
    var link = document.querySelector("a.continue-link");
    if (!link) return;
    var first = list.querySelector("li.step");
    if (next && next !== first) {
      link.href = next.getAttribute("data-href");
      link.textContent = "Continue with step " + next.getAttribute("data-number") + ": " + next.getAttribute("data-title");
    } else if (!next && first) {
      link.href = first.getAttribute("data-href");
      link.textContent = "All steps done: review step 1";
    }
  }

  // The step page: a "Mark done" toggle.
  function renderStepPage() {
    var button = document.querySelector("button.mark-done");
    if (!button) return;
    var done = isDone(button.getAttribute("data-path"), button.getAttribute("data-step"));
    button.setAttribute("aria-pressed", done ? "true" : "false");
    button.textContent = done ? "Done ✓" : "Mark done";
    button.title = done ? "Click to mark this step not done" : "";
    button.hidden = false;
    var state = document.querySelector(".step-state");
    if (state) state.hidden = !done;
  }

  function render() {
    renderProgress();
    renderSteps();
    renderStepPage();
  }

  var cleared = null;  // what "Clear progress" removed, for Undo

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input.step-done")) return;
    setDone(box.getAttribute("data-path"), box.getAttribute("data-step"), box.checked);
    render();
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("button") : null;
    if (!target) return;
    var panel = target.closest(".progress-panel");
    if (target.matches("button.mark-done")) {
      var path = target.getAttribute("data-path");
      var step = target.getAttribute("data-step");
      setDone(path, step, !isDone(path, step));
      render();
    } else if (panel && target.getAttribute("data-action") === "clear-progress") {
      var p = panel.getAttribute("data-path");
      cleared = { path: p, steps: doneSteps(p, stepsOf(panel)) };
      cleared.steps.forEach(function (s) { setDone(p, s, false); });
      panel.querySelector(".undo-clear").hidden = cleared.steps.length === 0;
      render();
    } else if (panel && target.getAttribute("data-action") === "undo-clear") {
      if (cleared) cleared.steps.forEach(function (s) { setDone(cleared.path, s, true); });
      cleared = null;
      panel.querySelector(".undo-clear").hidden = true;
      panel.querySelector("[data-action=clear-progress]").focus();
      render();
    }
  });

  // Another tab marked a step: show it here too.
  window.addEventListener("storage", function (event) {
    if (!event.key || event.key.indexOf(PREFIX) === 0) render();
  });
  // Back/forward restores pages from the cache with stale progress.
  window.addEventListener("pageshow", function (event) { if (event.persisted) render(); });

  // Glossary: filter the list as you type (the form's ?q= does the same on the server without JavaScript).
  function setupGlossaryFilter() {
    var input = document.getElementById("glossary-q");
    if (!input) return;
    var entries = all(".term-entry");
    var count = document.getElementById("glossary-count");
    var total = count ? count.getAttribute("data-total") || entries.length : entries.length;
    var index = entries.map(function (entry) {
      var def = entry.querySelector(".term-def");
      return ((entry.getAttribute("data-names") || "") + "\n" + (def ? def.textContent : "")).toLowerCase();
    });
    function apply() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      entries.forEach(function (entry, i) {
        var match = words.every(function (w) { return index[i].indexOf(w) !== -1; });
        entry.hidden = !match;
        if (match) shown += 1;
      });
      all(".letter-group").forEach(function (group) {
        var visible = group.querySelector(".term-entry:not([hidden])") !== null;
        group.hidden = !visible;
        var link = document.querySelector('.letter-index a[href="#' + group.id + '"]');
        if (link) link.classList.toggle("letter-empty", !visible);
      });
      if (count && words.length) count.textContent = shown + " of " + total + " terms match";
      else if (count) count.textContent = total + " terms";
    }
    input.addEventListener("input", apply);
  }

  // Term links in answers: the CSS tooltip reads data-def; moving the title there avoids a second, native
  // tooltip. aria-description keeps the definition for screen readers.
  function setupTermTooltips() {
    all("a.term[title]").forEach(function (link) {
      var def = link.getAttribute("title");
      link.setAttribute("data-def", def);
      link.setAttribute("aria-description", def);
      link.removeAttribute("title");
    });
  }

  function init() {
    render();
    setupGlossaryFilter();
    setupTermTooltips();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// Catalog: the script page's Copy button. It stays hidden without the clipboard API (plain HTTP on a
// non-local host): the commands can still be selected and copied by hand.
(function () {
  "use strict";

  function say(button, text) {
    var status = button.closest("section") && button.closest("section").querySelector(".copy-status");
    if (status) status.textContent = text;
  }

  function selectAll(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function init() {
    if (!navigator.clipboard || !window.isSecureContext) return;
    Array.prototype.forEach.call(document.querySelectorAll("button.copy-button[data-copy-target]"), function (button) {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = target.textContent.replace(/\s+$/, "") + "\n";
        navigator.clipboard.writeText(text).then(function () {
          button.textContent = "Copied";
          say(button, "The commands are on the clipboard.");
          window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
        }, function () {
          selectAll(target);
          say(button, "The browser refused the clipboard: the commands are selected, press Ctrl+C.");
        });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
