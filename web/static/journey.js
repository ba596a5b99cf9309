// Progressive enhancement for the portal: everything works without it. One polling script:
// - a record page with a journey panel (section[data-journey-url]: a case, the profile, an invoice)
//   polls that small JSON endpoint about every 2 s and updates each hop, the page's sync badge and
//   the values marked [data-journey-field] in place, until the journey is final (back from
//   Salesforce, or refused). A panel marked data-watch (the profile) then keeps checking every
//   5 s, so a change made in the org appears without a reload;
// - any other page polls each sync badge that is not final (.sync[data-status-url]) until
//   Salesforce has answered.
// Polling pauses while the tab is hidden and backs off on errors.
(function () {
  "use strict";
  var FAST_MS = 2000, FAST_POLLS = 30, WATCH_MS = 5000, MAX_DELAY_MS = 30000;
  // A hop's state → its SLDS classes (web/portal.py HOP_CLASSES, BADGE_CLASSES).
  var HOP_CLASSES = { done: "slds-is-completed", current: "slds-is-active", failed: "slds-has-error" };
  var BADGE_CLASSES = { done: "slds-theme_success", current: "slds-theme_warning", failed: "slds-theme_error" };
  // A sync badge's SLDS theme for each state (templates/portal/_badge.html).
  var THEMES = { pending: "slds-theme_warning", saved: "slds-theme_success", failed: "slds-theme_error" };

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); });
  }

  // Run `step` after `delay`, but never while the tab is hidden: wait until it is shown again.
  function later(step, delay) {
    window.setTimeout(function () {
      if (!document.hidden) { step(); return; }
      document.addEventListener("visibilitychange", function shown() {
        if (document.hidden) { return; }
        document.removeEventListener("visibilitychange", shown);
        step();
      });
    }, delay);
  }

  function setText(el, text) {
    if (el && el.textContent !== text) { el.textContent = text; }
  }

  function showBadge(badge, status) {
    setText(badge, status.label);
    Object.keys(THEMES).forEach(function (s) { badge.classList.remove(s, THEMES[s]); });
    badge.classList.add(status.state, THEMES[status.state]);
    if (status.final) { badge.removeAttribute("data-status-url"); }
  }

  function showHop(item, hop) {
    if (item.dataset.state === hop.state && item.querySelector(".journey-at").textContent === hop.at_text) {
      return;  // unchanged: leave it, so screen readers hear only what changed
    }
    item.dataset.state = hop.state;
    Object.keys(HOP_CLASSES).forEach(function (s) { item.classList.remove(HOP_CLASSES[s]); });
    if (HOP_CLASSES[hop.state]) { item.classList.add(HOP_CLASSES[hop.state]); }
    var word = item.querySelector(".journey-word");
    Object.keys(BADGE_CLASSES).forEach(function (s) { word.classList.remove(BADGE_CLASSES[s]); });
    if (BADGE_CLASSES[hop.state]) { word.classList.add(BADGE_CLASSES[hop.state]); }
    setText(word, hop.word);
    setText(item.querySelector(".journey-detail"), hop.detail);
    var at = item.querySelector(".journey-at");
    setText(at, hop.at_text);
    if (hop.at) { at.setAttribute("datetime", hop.at); } else { at.removeAttribute("datetime"); }
  }

  // A value Salesforce or the org changed: its display, and its form field unless the customer is editing it.
  function showField(name, value) {
    if (value === null || value === undefined) { return; }
    document.querySelectorAll('[data-journey-field="' + name + '"]').forEach(function (el) { setText(el, value); });
    document.querySelectorAll('form[data-journey-form] [name="' + name + '"]').forEach(function (input) {
      if (input !== document.activeElement && input.value === input.defaultValue && input.value !== value) {
        input.value = value;
        input.defaultValue = value;
      }
    });
  }

  // Refused while the page was open: the same "Send again" form the page renders for a refused change.
  function offerRetry(panel) {
    var token = document.querySelector('input[name="csrf_token"]');
    if (!panel.dataset.retryUrl || !token || panel.querySelector("form.journey-retry")) { return; }
    var form = document.createElement("form");
    form.method = "post";
    form.action = panel.dataset.retryUrl;
    form.className = "inline journey-retry";
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf_token";
    input.value = token.value;
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "slds-button slds-button_brand";
    button.textContent = "Send again";
    form.appendChild(input);
    form.appendChild(button);
    panel.querySelector(".slds-card__body").appendChild(form);
  }

  function showJourney(panel, journey) {
    journey.hops.forEach(function (hop) {
      var item = panel.querySelector('[data-hop="' + hop.hop + '"]');
      if (item) { showHop(item, hop); }
    });
    document.querySelectorAll(".sync").forEach(function (badge) { showBadge(badge, journey.status); });
    Object.keys(journey.fields).forEach(function (name) { showField(name, journey.fields[name]); });
    var link = panel.querySelector("[data-journey-link]");
    if (link && journey.record_url) {
      link.setAttribute("href", journey.record_url);
      link.parentNode.hidden = false;
    }
    if (journey.state === "failed") { offerRetry(panel); }
    panel.dataset.final = journey.final ? "true" : "false";
  }

  function followJourney(panel) {
    var url = panel.dataset.journeyUrl, watch = panel.dataset.watch === "true", polls = 0;
    function poll(delay) {
      later(function () {
        getJson(url).then(function (journey) {
          showJourney(panel, journey);
          polls += 1;
          // Every 2 s for the first minute; then slower (on Heroku, "synced back" waits for the
          // mapping's poll, every 10 minutes by default).
          var next = polls < FAST_POLLS ? FAST_MS : Math.min(delay * 1.5, MAX_DELAY_MS);
          if (!journey.final) { poll(next); } else if (watch) { poll(WATCH_MS); }
        }).catch(function () { poll(Math.min(delay * 2, MAX_DELAY_MS)); });
      }, delay);
    }
    if (panel.dataset.final !== "true") { poll(FAST_MS); } else if (watch) { poll(WATCH_MS); }
  }

  function followBadge(badge) {
    function poll(delay) {
      later(function () {
        getJson(badge.dataset.statusUrl).then(function (status) {
          showBadge(badge, status);
          if (!status.final) { poll(Math.min(delay * 1.5, MAX_DELAY_MS)); }
        }).catch(function () { poll(Math.min(delay * 2, MAX_DELAY_MS)); });
      }, delay);
    }
    poll(FAST_MS);
  }

  var panels = document.querySelectorAll("section[data-journey-url]");
  if (panels.length) {
    panels.forEach(followJourney);  // the panel's JSON carries the badge's status too: one poll per page
  } else {
    document.querySelectorAll(".sync[data-status-url]").forEach(followBadge);
  }
})();
