// Review console: live character counts and live workflow updates. No build step, no dependencies.
"use strict";

function updateCount(area) {
  const max = Number(area.dataset.maxLength || 0);
  const count = document.getElementById(area.getAttribute("aria-describedby").split(" ")[0]);
  const length = Array.from(area.value).length;
  count.textContent = max ? `${length} / ${max} characters` : `${length} characters`;
  if (max && length > max) {
    const over = document.createElement("strong");
    over.className = "over";
    over.textContent = " over the limit";
    count.appendChild(over);
  }
  const preview = area.closest("section").querySelector(".preview");
  if (preview) preview.textContent = area.value;
}

function followEvents(status, after) {
  const list = document.getElementById("live-events");
  const url = status.dataset.liveEvents + (after ? `?after=${encodeURIComponent(after)}` : "");
  const source = new EventSource(url);
  const show = (kind, text) => {
    const item = document.createElement("li");
    item.textContent = `${kind}${text ? ": " + text : ""}`;
    list.appendChild(item);
  };
  ["routing_step", "team_started", "team_finished", "artifact", "review_required"].forEach((kind) =>
    source.addEventListener(kind, (event) => {
      const data = JSON.parse(event.data);
      const detail = data[kind] || {};
      show(kind.replace("_", " "), detail.team || detail.next || detail.title || "");
    }),
  );
  source.addEventListener("done", (event) => {
    source.close();
    const finished = JSON.parse(event.data).done.status.replace("WORKFLOW_STATUS_", "");
    if (finished === "AWAITING_REVIEW") {
      // the run stopped for a review; a decision starts the next one: follow on after this event
      followEvents(status, event.lastEventId);
    } else if (finished !== status.textContent.trim()) {
      window.location.reload();
    }
  });
  source.addEventListener("error", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("textarea[data-max-length]").forEach((area) => {
    area.addEventListener("input", () => updateCount(area));
  });
  const status = document.getElementById("workflow-status");
  if (status && status.dataset.liveEvents) followEvents(status, "");
});
