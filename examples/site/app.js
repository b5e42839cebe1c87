// Shows which protocol delivered this page (the Navigation Timing API).
document.addEventListener("DOMContentLoaded", () => {
  const entry = performance.getEntriesByType("navigation")[0];
  const protocol = entry && entry.nextHopProtocol;
  if (protocol) {
    document.getElementById("protocol").textContent = protocol === "h2" ? "HTTP/2" : protocol;
  }
});
