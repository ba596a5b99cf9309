// Progressive enhancement for the portal: everything works without it.
// A sync badge that is not final ("Sending to Salesforce…") carries data-status-url; poll that
// small JSON endpoint and update the badge in place until Salesforce has answered.
(function () {
  "use strict";
  var MAX_DELAY_MS = 30000;
  // The SLDS theme of each state (templates/portal/_badge.html gives the same).
  var THEMES = { pending: "slds-theme_warning", saved: "slds-theme_success", failed: "slds-theme_error" };

  function poll(badge, delay) {
    window.setTimeout(function () {
      fetch(badge.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (status) {
          if (!status) { return; }
          badge.textContent = status.label;
          badge.className = "sync " + status.state + " slds-badge " + (THEMES[status.state] || "");
          if (status.final) {
            badge.removeAttribute("data-status-url");
            if (status.state === "failed") { window.location.reload(); }  // shows the "Send again" button
          } else {
            poll(badge, Math.min(delay * 1.5, MAX_DELAY_MS));
          }
        })
        .catch(function () { poll(badge, Math.min(delay * 2, MAX_DELAY_MS)); });
    }, delay);
  }

  document.querySelectorAll(".sync[data-status-url]").forEach(function (badge) { poll(badge, 2000); });
})();
