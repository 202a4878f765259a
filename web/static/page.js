// What every page does without inline script (the Content-Security-Policy allows none):
// a button marked data-print prints the page.
document.addEventListener("click", function (event) {
  var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
  if (target) { event.preventDefault(); window.print(); }
});
