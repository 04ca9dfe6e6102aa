// Draws every chart, then flags the page (data-charts) so a browser test knows when to look.
(function () {
  "use strict";
  var root = document.documentElement;
  var figures = JSON.parse(document.getElementById("agenttrace-figures").textContent);
  var config = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
    toImageButtonOptions: {format: "png", scale: 2}
  };
  Promise.all(figures.map(function (figure) {
    return Plotly.newPlot(figure.id, figure.data, figure.layout, config);
  })).then(function () {
    root.dataset.charts = "drawn";
  }, function (error) {
    root.dataset.charts = "failed";
    console.error("agenttrace: a chart could not be drawn:", error);
  });
})();
