// Live progress for a job status page (progressive enhancement: without this file the page
// refreshes itself through a <noscript> meta refresh). Polls the job's JSON once a second.
(function () {
  "use strict";
  var section = document.querySelector("[data-job-status]");
  if (!section) { return; }
  var url = section.getAttribute("data-job-status");
  function field(name) { return section.querySelector('[data-field="' + name + '"]'); }
  function number(n) { return Number(n).toLocaleString(); }

  function render(job) {
    var state = field("state"), bar = field("bar"), summary = field("summary");
    state.textContent = job.state;
    var theme = { finished: " slds-theme_success", failed: " slds-theme_error" }[job.state] || "";
    state.className = "slds-badge" + theme + " badge " + job.state;
    if (job.total) {
      bar.max = job.total;
      bar.value = Math.min(job.done, job.total);
      summary.textContent = number(job.done) + " of " + number(job.total) + " (" + job.percent + "%)";
    } else if (job.state === "finished") {
      bar.max = 100; bar.value = 100; summary.textContent = "";
    }
    if (job.rate && job.state === "started") { summary.textContent += " · " + number(Math.round(job.rate)) + " rows/s"; }
    var error = field("error");
    error.hidden = !job.error;
    error.textContent = job.error || "";
    if (job.result_url) {
      field("result-link").href = job.result_url;
      field("result").hidden = false;
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (job) {
        render(job);
        if (job.state === "queued" || job.state === "started") { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (section.getAttribute("data-state") === "queued" || section.getAttribute("data-state") === "started") { poll(); }
}());
