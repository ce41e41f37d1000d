// The composer's article list without page reloads. Every control is a form that
// works without this script; with it, the same request is sent with fetch asking for
// JSON, and the list the server answers with replaces the old one in place. Also:
// drag and drop, and Alt+Arrow keys on a focused article, both announced to screen
// readers through the page's live region.
(function () {
  "use strict";
  var holder = document.getElementById("article-list");
  if (!holder || !window.fetch || !window.URLSearchParams) return;
  var live = document.getElementById("composer-status");
  var frame = document.getElementById("preview-frame");
  var busy = false;

  function say(message) {
    if (!live || !message) return;
    live.textContent = "";
    window.setTimeout(function () { live.textContent = message; }, 50);
  }

  function list() { return holder.querySelector("ol.articles"); }

  function csrf() {
    var field = holder.querySelector("input[name=csrf]");
    return field ? field.value : "";
  }

  function articleUrl(id) {
    return "/admin/digest/" + list().getAttribute("data-digest") + "/articles/" + id;
  }

  // After the list is replaced, focus goes back where it was: the same button of the
  // same article, else the article itself.
  function refocus(focus) {
    if (!focus) return;
    var item = document.getElementById("article-" + focus.article);
    if (!item) return;
    var button = focus.action && item.querySelector('[data-action="' + focus.action + '"]');
    (button || item).focus({ preventScroll: true });
  }

  // Sends `body` to `url`; resolves true when the server answered with JSON (applied),
  // false when it did not (the caller may fall back to a normal submission).
  function send(url, body, focus) {
    if (busy) return Promise.resolve(true);
    busy = true;
    holder.classList.add("composer-busy");
    var x = window.scrollX, y = window.scrollY;
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== 0) return false;
      return response.json().then(function (answer) {
        if (!answer.ok) {
          say(answer.error || "That did not work.");
          return true;
        }
        holder.innerHTML = answer.list;
        window.scrollTo(x, y);
        var status = document.getElementById("digest-status");
        if (status && answer.status) status.textContent = answer.status;
        if (frame) frame.setAttribute("src", frame.getAttribute("src"));
        refocus(focus);
        say(answer.message);
        return true;
      });
    }).catch(function () {
      say("Could not reach the server; nothing was changed. Try again.");
      return true;
    }).then(function (applied) {
      busy = false;
      holder.classList.remove("composer-busy");
      return applied;
    });
  }

  function fields(pairs) {
    var body = new URLSearchParams();
    body.append("csrf", csrf());
    Object.keys(pairs).forEach(function (k) { body.append(k, pairs[k]); });
    return body;
  }

  holder.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-live")) return;
    event.preventDefault();
    var submitter = event.submitter || null;
    var body = new URLSearchParams(new FormData(form, submitter));
    var item = form.closest("li[data-article]");
    var focus = item && {
      article: item.getAttribute("data-article"),
      action: submitter && submitter.getAttribute("data-action")
    };
    // Not `form.action`: the forms have a field named "action", which shadows it.
    send(form.getAttribute("action"), body, focus).then(function (applied) {
      if (!applied) HTMLFormElement.prototype.submit.call(form);
    });
  });

  // Keyboard: Alt+Up / Alt+Down move the focused article one place, Alt+Home to the top.
  holder.addEventListener("keydown", function (event) {
    var item = event.target;
    if (!event.altKey || !item.matches || !item.matches("li[data-article][draggable]")) return;
    var action = { ArrowUp: "up", ArrowDown: "down", Home: "top" }[event.key];
    if (!action) return;
    event.preventDefault();
    var id = item.getAttribute("data-article");
    send(articleUrl(id), fields({ action: action }), { article: id });
  });

  // Drag and drop: the article lands before or after the one under the pointer.
  var dragged = null;
  function clearMarks() {
    holder.querySelectorAll(".drop-before, .drop-after").forEach(function (el) {
      el.classList.remove("drop-before", "drop-after");
    });
  }
  function targetOf(event) {
    var item = event.target.closest && event.target.closest("li[data-article][draggable]");
    return item && item !== dragged ? item : null;
  }
  holder.addEventListener("dragstart", function (event) {
    var item = event.target.closest && event.target.closest("li[data-article][draggable]");
    if (!item) return;
    dragged = item;
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.getAttribute("data-article"));
  });
  holder.addEventListener("dragover", function (event) {
    var item = targetOf(event);
    if (!dragged || !item) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    var box = item.getBoundingClientRect();
    var before = event.clientY < box.top + box.height / 2;
    clearMarks();
    item.classList.add(before ? "drop-before" : "drop-after");
  });
  holder.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    clearMarks();
  });
  holder.addEventListener("drop", function (event) {
    var item = targetOf(event);
    if (!dragged || !item) return;
    event.preventDefault();
    var before = item.classList.contains("drop-before");
    var order = Array.prototype.slice.call(list().querySelectorAll("li[data-article][draggable]"));
    order.splice(order.indexOf(dragged), 1);
    var to = order.indexOf(item) + (before ? 0 : 1);
    var id = dragged.getAttribute("data-article");
    clearMarks();
    send(articleUrl(id), fields({ action: "move", to: String(to) }), { article: id });
  });
})();
