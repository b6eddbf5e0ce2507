/* The overview's charts (Chart.js, from npm): the trend of reports, closures and handling
   reports, the colour mix of the open cases now, and the categories with the most reports.
   The numbers come from the page (json_script "overview-charts"); the labels too, so they are
   translated with the page. */
(function () {
  var source = document.getElementById("overview-charts");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var css = getComputedStyle(document.documentElement);
  function colour(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  var palette = {
    blue: colour("--cblue", "#2f6fb3"), yellow: colour("--yellow", "#d4a106"),
    red: colour("--red", "#c0392b"), grey: colour("--grey", "#8a8f98"), green: colour("--green", "#2e8b57")
  };
  Chart.defaults.font.family = 'system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;  // numbers, not a show; and screenshots are stable

  new Chart(document.getElementById("chart-trend"), {
    type: "line",
    data: {
      labels: data.trend.labels,
      datasets: [
        {label: data.series.reports, data: data.trend.reports, borderColor: palette.blue,
         backgroundColor: palette.blue, tension: 0.2},
        {label: data.series.closed, data: data.trend.closed, borderColor: palette.green,
         backgroundColor: palette.green, tension: 0.2},
        {label: data.series.handled, data: data.trend.handled, borderColor: palette.yellow,
         backgroundColor: palette.yellow, borderDash: [4, 3], tension: 0.2}
      ]
    },
    options: {
      interaction: {mode: "index", intersect: false},
      scales: {y: {beginAtZero: true, ticks: {precision: 0}}},
      plugins: {legend: {position: "bottom"}}
    }
  });

  var total = data.colours.counts.reduce(function (a, b) { return a + b; }, 0);
  new Chart(document.getElementById("chart-colours"), {
    type: "doughnut",
    data: {
      labels: data.colours.labels.map(function (label, i) { return label + " " + data.colours.counts[i]; }),
      datasets: [{
        data: total ? data.colours.counts : data.colours.counts.map(function () { return 0; }),
        backgroundColor: data.colours.codes.map(function (code) { return palette[code] || "#999"; })
      }]
    },
    options: {plugins: {legend: {position: "right"}}}
  });

  new Chart(document.getElementById("chart-categories"), {
    type: "bar",
    data: {
      labels: data.categories.labels,
      datasets: [{label: data.series.categories, data: data.categories.counts, backgroundColor: palette.blue}]
    },
    options: {
      indexAxis: "y",
      scales: {x: {beginAtZero: true, ticks: {precision: 0}}},
      plugins: {legend: {display: false}}
    }
  });
})();
