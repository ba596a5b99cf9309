// Live progress for /ops/invoicing/runs/<id>: poll the JSON view until the run is final. Times arrive in human
// units (eta_text, elapsed_text: core/durations.py on the server), so the page and the CLI read alike.
(function () {
  const root = document.getElementById("run");
  if (!root || root.dataset.final === "true") return;
  const url = root.dataset.statusUrl;
  const bar = document.getElementById("bar");
  const line = document.getElementById("line");
  const number = new Intl.NumberFormat();
  const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function show(run) {
    for (const el of root.querySelectorAll("[data-field]")) {
      const value = run[el.dataset.field];
      if (value === null || value === undefined) el.textContent = "—";
      else if (el.dataset.field === "amount_total") el.textContent = el.dataset.currency + " " + money.format(Number(value));
      else el.textContent = typeof value === "number" ? number.format(Math.round(value * 10) / 10) : value;
    }
    bar.max = run.chunks_total || 1;
    bar.value = run.chunks_total ? run.chunks_done : 1;
    const eta = run.eta_seconds === null ? "" : `, about ${run.eta_text} left`;
    line.textContent = `${run.state} — ${run.chunks_done}/${run.chunks_total} chunks, ` +
      `${number.format(run.orders_invoiced)} orders, ${number.format(Math.round(run.orders_per_second))} orders/s${eta}`;
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const run = await response.json();
        show(run);
        if (run.final) { window.setTimeout(() => window.location.reload(), 500); return; }
      }
    } catch (err) { /* a deploy or a blip: try again */ }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();
