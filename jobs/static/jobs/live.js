// Live job progress on the job list and job page: every 1.5 s, ask the admin's small JSON
// endpoint for the unfinished jobs on the page and swap their status, progress bar, error and
// log in place (server-rendered, escaped HTML). Stops when every job on the page has finished.
(function () {
  "use strict";
  const INTERVAL_MS = 1500;

  function liveUrl() {
    // .../admin/jobs/job/ or .../admin/jobs/job/<id>/change/ -> .../admin/jobs/job/live/
    const match = window.location.pathname.match(/^(.*\/jobs\/job\/)/);
    return match ? match[1] + "live/" : null;
  }

  function unfinishedIds() {
    const ids = new Set();
    document.querySelectorAll('[data-job-live][data-job-finished="0"]').forEach((el) => ids.add(el.dataset.jobId));
    return Array.from(ids);
  }

  async function refresh(url) {
    const ids = unfinishedIds();
    if (!ids.length) return false;
    const response = await fetch(url + "?ids=" + ids.join(","), { credentials: "same-origin" });
    if (!response.ok) return true;
    const data = await response.json();
    let reload = false;
    for (const [id, job] of Object.entries(data.jobs)) {
      document.querySelectorAll('[data-job-live][data-job-id="' + id + '"]').forEach((el) => {
        el.innerHTML = job[el.dataset.jobLive];
        if (job.finished) {
          el.dataset.jobFinished = "1";
          // On the job page the buttons (cancel/retry) depend on the state: show the new ones.
          if (document.querySelector("#job_form, form[id$='_form']") && !document.querySelector("#result_list")) {
            reload = true;
          }
        }
      });
    }
    if (reload) {
      window.location.reload();
      return false;
    }
    return true;
  }

  function start() {
    const url = liveUrl();
    if (!url || !unfinishedIds().length) return;
    const tick = async () => {
      let again = true;
      try {
        again = await refresh(url);
      } catch (error) {
        again = true; // the server restarted or the network blinked: keep trying
      }
      if (again) window.setTimeout(tick, INTERVAL_MS);
    };
    window.setTimeout(tick, INTERVAL_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
