// Keyboard and gallery helpers. Data comes inline from the page (no fetch: it fails on file://).
(function () {
  "use strict";
  var dataNode = document.getElementById("page-data");
  var data = dataNode ? JSON.parse(dataNode.textContent) : {};
  var negative = false;

  function showSign(useNegative) {
    negative = useNegative;
    document.querySelectorAll("img[data-positive]").forEach(function (image) {
      image.src = negative ? image.dataset.negative : image.dataset.positive;
    });
    var button = document.getElementById("sign-switch");
    if (button) {
      button.setAttribute("aria-pressed", String(negative));
      button.textContent = negative ? "Show positive (n)" : "Show negative (n)";
    }
  }

  function pad(id) { return ("000" + id).slice(-4); }

  function jumpTo(value) {
    var id = parseInt(value, 10);
    var known = data.filter_ids || [];
    if (isNaN(id) || known.indexOf(id) < 0) {
      window.alert("No filter " + value + " in this layer.");
      return;
    }
    window.location.href = pad(id) + ".html";
  }

  var sorter = document.getElementById("sort");
  if (sorter) sorter.addEventListener("change", function () {
    var gallery = document.getElementById("gallery");
    var items = Array.prototype.slice.call(gallery.children);
    var byActivation = sorter.value === "activation";
    items.sort(function (a, b) {
      if (!byActivation) return Number(a.dataset.id) - Number(b.dataset.id);
      var x = parseFloat(a.dataset.activation), y = parseFloat(b.dataset.activation);
      return (isNaN(y) ? -Infinity : y) - (isNaN(x) ? -Infinity : x);
    });
    items.forEach(function (item) { gallery.appendChild(item); });
  });

  var switcher = document.getElementById("sign-switch");
  if (switcher) switcher.addEventListener("click", function () { showSign(!negative); });
  var form = document.getElementById("jump");
  if (form) form.addEventListener("submit", function (event) {
    event.preventDefault();
    jumpTo(document.getElementById("jump-input").value);
  });

  document.addEventListener("keydown", function (event) {
    if (event.target.tagName === "INPUT" || event.metaKey || event.ctrlKey || event.altKey) return;
    var link = null;
    if (event.key === "ArrowLeft") link = document.querySelector("a[rel=prev]");
    if (event.key === "ArrowRight") link = document.querySelector("a[rel=next]");
    if (link) { window.location.href = link.href; return; }
    if (event.key === "n" && switcher) showSign(!negative);
    if (event.key === "g") {
      var input = document.getElementById("jump-input");
      if (input) { event.preventDefault(); input.focus(); }
    }
  });
})();
