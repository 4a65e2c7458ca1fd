// Keyboard and gallery helpers. Data comes inline from the page (no fetch: it fails on file://).
(function () {
  "use strict";
  var dataNode = document.getElementById("page-data");
  var data = dataNode ? JSON.parse(dataNode.textContent) : {};
  var negative = false;
  var examples = data.examples || null;
  var exampleView = false;

  function showSign(useNegative) {
    negative = useNegative;
    document.querySelectorAll("img[data-negative]").forEach(function (image) {
      if (!image.dataset.positive) image.dataset.positive = image.getAttribute("src");
      image.src = negative ? image.dataset.negative : image.dataset.positive;
    });
    if (exampleView) fillCrops();
    var button = document.getElementById("sign-switch");
    if (button) {
      button.setAttribute("aria-pressed", String(negative));
      button.textContent = negative ? "Show positive (n)" : "Show negative (n)";
    }
  }

  // The gallery's example view: each filter's best real patch, cropped from its source image (built on demand).
  function fillCrops() {
    var position = {};
    (data.filter_ids || []).forEach(function (id, index) { position[id] = index; });
    document.querySelectorAll("#gallery li").forEach(function (item) {
      var view = examples[negative ? "negative" : "positive"][position[Number(item.dataset.id)]];
      var crop = item.querySelector(".crop");
      if (!view) { if (crop) crop.remove(); return; }
      if (!crop) {
        crop = document.createElement("span");
        crop.className = "crop";
        crop.style.width = crop.style.height = examples.crop + "px";
        crop.appendChild(document.createElement("img"));
        item.querySelector("a").insertBefore(crop, item.querySelector("a span"));
      }
      var image = crop.firstChild;
      image.loading = "lazy";
      image.alt = item.querySelector("img[data-negative]").alt + ", dataset example";
      image.width = image.height = view.size;
      image.style.width = image.style.height = view.size + "px";
      image.style.left = view.left + "px";
      image.style.top = view.top + "px";
      image.className = view.pixelated ? "pixelated" : "";
      image.src = examples.images[view.image];
    });
  }

  function showView(useExamples) {
    var gallery = document.getElementById("gallery");
    if (!gallery || !examples) return;
    exampleView = useExamples;
    if (exampleView) fillCrops();
    gallery.classList.toggle("example-view", exampleView);
    var button = document.getElementById("view-switch");
    button.setAttribute("aria-pressed", String(exampleView));
    button.textContent = exampleView ? "Show synthetic images (e)" : "Show dataset examples (e)";
  }

  // The gallery's facet view: each filter's facets in place of its main image.
  var facetView = false;
  function showFacets(useFacets) {
    var gallery = document.getElementById("gallery"), button = document.getElementById("facet-switch");
    if (!gallery || !button) return;
    facetView = useFacets;
    gallery.classList.toggle("facet-view", facetView);
    button.setAttribute("aria-pressed", String(facetView));
    button.textContent = facetView ? "Show main images (f)" : "Show facets (f)";
  }

  // The filter page's circuit and neighbour thumbnails lie far below the first screen: each loads when it comes
  // within 200 px of the view (data-src -> src), so a page fetches only what is in view before scrolling.
  function reveal(image) {
    image.src = image.getAttribute("data-src");
    image.removeAttribute("data-src");
  }
  var deferred = document.querySelectorAll("img[data-src]");
  if (deferred.length && "IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { reveal(entry.target); observer.unobserve(entry.target); }
      });
    }, { rootMargin: "200px" });
    deferred.forEach(function (image) { observer.observe(image); });
  } else {
    deferred.forEach(reveal);
  }

  // Silent filters are dimmed in the gallery, and the button hides them.
  var silentHidden = false;
  function hideSilent(hide) {
    var gallery = document.getElementById("gallery"), button = document.getElementById("silent-switch");
    silentHidden = hide;
    gallery.classList.toggle("hide-silent", hide);
    button.setAttribute("aria-pressed", String(hide));
    button.textContent = hide ? "Show silent (s)" : "Hide silent (s)";
  }
  var silentSwitcher = document.getElementById("silent-switch");
  if (silentSwitcher) silentSwitcher.addEventListener("click", function () { hideSilent(!silentHidden); });

  var facetSwitcher = document.getElementById("facet-switch");
  if (facetSwitcher) facetSwitcher.addEventListener("click", function () { showFacets(!facetView); });

  // The gallery links every filter's page: jump by following that link. A number is a filter id; other text
  // finds the first class whose name holds it (layers of class units).
  function jumpTo(value) {
    var text = String(value).trim();
    var link = null;
    if (/^[0-9]+$/.test(text)) {
      link = document.querySelector('#gallery li[data-id="' + parseInt(text, 10) + '"] a');
    } else if (text) {
      var wanted = text.toLowerCase();
      var items = document.querySelectorAll("#gallery li[data-label]");
      for (var index = 0; index < items.length && !link; index++) {
        if (items[index].dataset.label.toLowerCase().indexOf(wanted) >= 0) link = items[index].querySelector("a");
      }
    }
    if (!link) {
      window.alert("No filter " + value + " in this layer.");
      return;
    }
    window.location.href = link.href;
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
  var viewSwitcher = document.getElementById("view-switch");
  if (viewSwitcher) viewSwitcher.addEventListener("click", function () { showView(!exampleView); });
  var form = document.getElementById("jump");
  if (form) form.addEventListener("submit", function (event) {
    event.preventDefault();
    jumpTo(document.getElementById("jump-input").value);
  });

  // The layer map: zoom spreads the filters apart (their thumbnails keep their size), keeping the view's centre.
  var plane = document.getElementById("filter-map-plane");
  var zoom = 1;
  function zoomMap(factor) {
    if (!plane) return;
    var view = document.getElementById("filter-map");
    var centreX = (view.scrollLeft + view.clientWidth / 2) / zoom, centreY = (view.scrollTop + view.clientHeight / 2) / zoom;
    zoom = Math.min(16, Math.max(0.25, zoom * factor));
    plane.style.width = plane.style.height = data.map_size * zoom + "px";
    view.scrollLeft = centreX * zoom - view.clientWidth / 2;
    view.scrollTop = centreY * zoom - view.clientHeight / 2;
  }
  var zoomIn = document.getElementById("zoom-in"), zoomOut = document.getElementById("zoom-out");
  if (zoomIn) zoomIn.addEventListener("click", function () { zoomMap(1.5); });
  if (zoomOut) zoomOut.addEventListener("click", function () { zoomMap(1 / 1.5); });

  // The models index: find a layer or a class label in every model (the entries come inline with the page).
  var modelsSearch = document.getElementById("models-search-input");
  function searchModels() {
    var wanted = modelsSearch.value.trim().toLowerCase(), list = document.getElementById("search-results");
    list.textContent = "";
    if (!wanted) return [];
    var found = (data.search || []).filter(function (item) { return item.text.toLowerCase().indexOf(wanted) >= 0; });
    found.slice(0, 30).forEach(function (item) {
      var entry = document.createElement("li"), link = document.createElement("a");
      link.href = item.page;
      link.textContent = item.model + " · " + item.text;
      entry.appendChild(link);
      entry.appendChild(document.createTextNode(" (" + item.kind + ")"));
      list.appendChild(entry);
    });
    if (!found.length) list.textContent = "Nothing found.";
    return found;
  }
  if (modelsSearch) {
    modelsSearch.addEventListener("input", searchModels);
    document.getElementById("models-search").addEventListener("submit", function (event) {
      event.preventDefault();
      var found = searchModels();
      if (found.length) window.location.href = document.querySelector("#search-results a").href;
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.target.tagName === "INPUT" || event.metaKey || event.ctrlKey || event.altKey) return;
    var link = null;
    if (event.key === "ArrowLeft") link = document.querySelector("a[rel=prev]");
    if (event.key === "ArrowRight") link = document.querySelector("a[rel=next]");
    if (link) { window.location.href = link.href; return; }
    if (plane && (event.key === "+" || event.key === "=")) zoomMap(1.5);
    if (plane && event.key === "-") zoomMap(1 / 1.5);
    if (event.key === "f" && facetSwitcher) showFacets(!facetView);
    if (event.key === "s" && silentSwitcher) hideSilent(!silentHidden);
    if (event.key === "n" && switcher) showSign(!negative);
    if (event.key === "e" && viewSwitcher) showView(!exampleView);
    if (event.key === "g") {
      var input = document.getElementById("jump-input");
      if (input) { event.preventDefault(); input.focus(); }
    }
  });
})();
