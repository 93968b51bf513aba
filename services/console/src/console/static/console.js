// Live figures: the dashboard asks the console for its figures every few seconds and
// swaps them in when they changed, so it follows the events as analytics applies them.
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const source = live.dataset.source;
  const every = Number(live.dataset.refreshMs) || 5000;
  let last = "";
  async function refresh() {
    try {
      const reply = await fetch(source, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (reply.ok) {
        const html = await reply.text();
        const figures = html.replace(/<span data-testid="updated">[^<]*<\/span>/, "");
        if (figures !== last) {
          last = figures;
          live.innerHTML = html;
        } else {
          const stamp = live.querySelector('[data-testid="updated"]');
          const fresh = html.match(/<span data-testid="updated">([^<]*)<\/span>/);
          if (stamp && fresh) stamp.textContent = fresh[1];
        }
        live.classList.remove("stale");
      } else {
        live.classList.add("stale");
      }
    } catch (err) {
      live.classList.add("stale");
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
})();
