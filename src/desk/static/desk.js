// birdbridge desk: live character counters and keyboard shortcuts. The page works without
// this file; it only adds what a script can do better while typing.
"use strict";

(function () {
  // Lengths as the target counts them (the server checks again on saving).
  function length(text, rule, perUrl) {
    if (rule === "utf-16") {
      return text.length;
    }
    if (rule === "mastodon") {
      var total = 0;
      text.split(/(\s+)/).forEach(function (word) {
        if (/^\s+$/.test(word) || word === "") {
          total += graphemes(word);
          return;
        }
        var at = word.search(/https?:\/\//);
        if (at >= 0) {
          var end = word.replace(/[.,;:!?)"']+$/, "").length;
          total += graphemes(word.slice(0, at)) + perUrl + graphemes(word.slice(end));
          return;
        }
        var mention = /^@(\w+)@[^@\s]+\.[^@\s.]+$/.exec(word);
        total += mention ? mention[1].length + 1 : graphemes(word);
      });
      return total;
    }
    // "code-points", and X's weighted count approximated by code points.
    return Array.from(text).length;
  }

  function graphemes(text) {
    if (window.Intl && Intl.Segmenter) {
      var n = 0;
      for (var _ of new Intl.Segmenter().segment(text)) {
        n += 1;
      }
      return n;
    }
    return Array.from(text).length;
  }

  function wire(field) {
    var limit = parseInt(field.getAttribute("data-limit"), 10);
    var rule = field.getAttribute("data-count");
    var perUrl = parseInt(field.getAttribute("data-per-url") || "23", 10);
    var ids = (field.getAttribute("aria-describedby") || "").split(" ");
    var output = document.getElementById(ids[0]);
    if (!output || isNaN(limit)) {
      return;
    }
    function update() {
      var n = length(field.value, rule, perUrl);
      var over = n > limit;
      output.textContent = n + " / " + limit + " characters" + (over ? " — too long" : "");
      output.classList.toggle("over", over);
      field.setAttribute("aria-invalid", over ? "true" : "false");
    }
    field.addEventListener("input", update);
    update();
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-limit]").forEach(wire);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.form) {
        e.preventDefault();
        var save = e.target.form.querySelector("button[value=save]");
        if (save) {
          save.click();
        } else {
          e.target.form.requestSubmit();
        }
        return;
      }
      if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) {
        return;
      }
      if (e.key === "n") {
        var next = document.getElementById("next-post");
        if (next) {
          next.click();
        }
      } else if (e.key === "q") {
        window.location.href = "/";
      }
    });
  });
})();
