/* The annotate screen: one keystroke per label, everything from the keyboard.
 *
 * The page arrives with its first record (JSON in #ann-screen); every action posts JSON and gets
 * the record to show next in the same answer. Text from the data is only ever set with
 * textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  const root = document.getElementById("annotate");
  if (!root) return;

  const screen = JSON.parse(document.getElementById("ann-screen").textContent);
  const csrfToken = document.getElementById("ann-csrf").value;
  const single = screen.kind === "single";
  const labelsById = new Map(screen.labels.map((label) => [label.id, label]));
  const RECENT_ITEMS = 8;

  const $ = (id) => document.getElementById(id);
  const el = {
    work: $("ann-work"),
    empty: $("ann-empty"),
    message: $("ann-message"),
    ref: $("ann-record-ref"),
    documentRef: $("ann-document"),
    backNote: $("ann-back-note"),
    timer: $("ann-timer"),
    before: $("ann-before"),
    text: $("ann-text"),
    after: $("ann-after"),
    suggestion: $("ann-suggestion"),
    suggestionText: $("ann-suggestion-text"),
    unsure: $("ann-unsure"),
    comment: $("ann-comment"),
    save: $("ann-save"),
    skip: $("ann-skip"),
    done: $("ann-done"),
    remaining: $("ann-remaining"),
    recent: $("ann-recent"),
    recentEmpty: $("ann-recent-empty"),
    help: $("ann-help"),
    helpButton: $("ann-help-button"),
  };
  const labelButtons = Array.from(root.querySelectorAll(".ann-label"));

  const state = {
    item: screen.item,
    counts: screen.counts,
    recent: screen.recent.slice(0, RECENT_ITEMS),
    selected: new Set(),
    back: false, // showing an earlier item, not the one the queue holds for me
    busy: false,
  };

  // --- Time on the record, counted only while the page is visible ---------------------------
  const timer = {
    spentMs: 0,
    since: null,
    start() {
      this.spentMs = 0;
      this.since = document.hidden ? null : performance.now();
    },
    pause() {
      if (this.since !== null) {
        this.spentMs += performance.now() - this.since;
        this.since = null;
      }
    },
    resume() {
      if (this.since === null && !document.hidden) this.since = performance.now();
    },
    seconds() {
      const running = this.since === null ? 0 : performance.now() - this.since;
      return (this.spentMs + running) / 1000;
    },
  };
  document.addEventListener("visibilitychange", () => (document.hidden ? timer.pause() : timer.resume()));
  setInterval(() => {
    if (!state.item) return;
    const total = Math.floor(timer.seconds());
    el.timer.textContent = `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
  }, 1000);

  // --- Drawing ------------------------------------------------------------------------------
  function showMessage(text, kind) {
    el.message.textContent = text;
    el.message.dataset.kind = kind || "error";
    el.message.hidden = false;
  }

  function clearMessage() {
    el.message.hidden = true;
    el.message.textContent = "";
  }

  function formatScore(score) {
    return score === null || score === undefined ? "" : score.toFixed(2);
  }

  function drawSelection() {
    for (const button of labelButtons) {
      button.setAttribute("aria-pressed", String(state.selected.has(Number(button.dataset.labelId))));
    }
  }

  function drawCounts() {
    el.done.textContent = state.counts.done_by_me.toLocaleString();
    el.remaining.textContent = state.counts.remaining.toLocaleString();
  }

  function drawItem() {
    const item = state.item;
    el.work.hidden = !item;
    el.empty.hidden = Boolean(item);
    root.dataset.back = String(state.back);
    // Focus must not stay on a button of the previous record, where Enter would act on it.
    if (root.contains(document.activeElement)) document.activeElement.blur();
    if (!item) return;

    el.ref.textContent = `Record #${item.record_id}`;
    const doc = item.document;
    el.documentRef.hidden = !doc;
    el.before.hidden = !(doc && doc.before);
    el.after.hidden = !(doc && doc.after);
    if (doc) {
      const where = [`from ${doc.name}`];
      if (doc.page !== null) where.push(`page ${doc.page}`);
      if (doc.position !== null) where.push(`part ${doc.position + 1}`);
      el.documentRef.textContent = where.join(" · ");
      el.before.textContent = doc.before;
      el.after.textContent = doc.after;
    }
    el.text.textContent = item.text;
    el.text.scrollTop = 0;
    el.backNote.hidden = !state.back;

    const suggestion = item.suggestion;
    for (const button of labelButtons) {
      const score = button.querySelector(".ann-label-score");
      const id = Number(button.dataset.labelId);
      const suggested = Boolean(suggestion && suggestion.label_ids.includes(id));
      button.classList.toggle("ann-suggested", suggested);
      score.hidden = !suggested;
      score.textContent = suggested ? formatScore(suggestion.scores[String(id)]) : "";
    }
    el.suggestion.hidden = !suggestion;
    if (suggestion) {
      el.suggestionText.textContent = suggestion.label_ids
        .map((id) => {
          const label = labelsById.get(id);
          const score = formatScore(suggestion.scores[String(id)]);
          return label ? `${label.name}${score ? ` (${score})` : ""}` : "";
        })
        .filter(Boolean)
        .join(", ");
    }

    const mine = item.mine;
    state.selected = new Set(mine ? mine.label_ids : []);
    el.unsure.checked = Boolean(mine && mine.unsure);
    el.comment.value = mine ? mine.comment : "";
    drawSelection();
    timer.start();
    el.timer.textContent = "0:00";
  }

  function drawRecent() {
    el.recent.replaceChildren();
    el.recentEmpty.hidden = state.recent.length > 0;
    for (const entry of state.recent) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "ann-recent-item";
      button.dataset.recordId = String(entry.record_id);
      const ref = document.createElement("span");
      ref.className = "ann-recent-ref";
      ref.textContent = `#${entry.record_id}`;
      const snippet = document.createElement("span");
      snippet.className = "ann-recent-snippet";
      snippet.textContent = entry.snippet;
      const answer = document.createElement("span");
      answer.className = "ann-recent-answer";
      if (entry.skipped) {
        answer.textContent = "skipped";
        answer.classList.add("ann-recent-skipped");
      } else {
        for (const id of entry.label_ids) {
          const label = labelsById.get(id);
          if (!label) continue;
          const chip = document.createElement("span");
          chip.className = "ann-chip";
          chip.style.setProperty("--label-color", label.color);
          chip.textContent = label.name;
          answer.append(chip);
        }
        if (!entry.label_ids.length) answer.textContent = "no label";
      }
      button.append(ref, answer, snippet);
      button.addEventListener("click", () => openEarlier(entry.record_id));
      li.append(button);
      el.recent.append(li);
    }
  }

  function remember(entry) {
    state.recent = [entry, ...state.recent.filter((old) => old.record_id !== entry.record_id)].slice(0, RECENT_ITEMS);
    drawRecent();
  }

  function forget(recordId) {
    state.recent = state.recent.filter((old) => old.record_id !== recordId);
    drawRecent();
  }

  // --- Talking to the server ----------------------------------------------------------------
  async function call(url, body) {
    const options = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken;
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      return { ok: false, status: 0, data: { error: "The server cannot be reached. Nothing was saved; try again." } };
    }
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("application/json")) {
      // A login page after the session ended, or a proxy's error page.
      return { ok: false, status: response.status, data: { error: "Your session has ended. Reload the page to sign in again." } };
    }
    return { ok: response.ok, status: response.status, data: await response.json() };
  }

  /** Run one action at a time: a second keystroke while the first is on its way is ignored, so
   * a label can never land on the record that replaced the one the person was looking at. */
  async function act(url, body, onSuccess) {
    if (state.busy) return;
    state.busy = true;
    root.classList.add("ann-busy");
    try {
      const { ok, status, data } = await call(url, body);
      if (ok) {
        clearMessage();
        onSuccess(data);
      } else {
        showMessage(data.error || `The server answered ${status}.`);
        if (status === 409 && "item" in data) {
          // The record cannot take this answer (full, or decided by a reviewer): carry on.
          state.item = data.item;
          state.back = false;
          if (data.counts) state.counts = data.counts;
          drawItem();
          drawCounts();
        }
      }
    } finally {
      state.busy = false;
      root.classList.remove("ann-busy");
    }
  }

  /** Show the record the server sent next. Counting every record is too slow for every keystroke
   * on a big dataset, so save, skip and undo answer without counts and the page adjusts its own
   * counter by what the action did (`change`); a reload or /next counts again. */
  function carryOn(data, change) {
    state.item = data.item;
    state.back = false;
    if (data.counts) {
      state.counts = data.counts;
    } else if (change) {
      state.counts = {
        done_by_me: Math.max(0, state.counts.done_by_me + (change.done || 0)),
        remaining: Math.max(0, state.counts.remaining + (change.remaining || 0)),
      };
    }
    drawItem();
    drawCounts();
  }

  // --- Actions ------------------------------------------------------------------------------
  function save() {
    const item = state.item;
    if (!item) return;
    const labelIds = Array.from(state.selected);
    if (single && labelIds.length !== 1) {
      showMessage("Choose a label first: press its key or click it.");
      return;
    }
    const body = {
      record_id: item.record_id,
      label_ids: labelIds,
      unsure: el.unsure.checked,
      comment: el.comment.value,
      seconds_spent: Math.round(timer.seconds() * 10) / 10,
    };
    // From the queue, a new answer; on an earlier item, a change (or an answer to what I skipped).
    let change = { done: 1, remaining: -1 };
    if (state.back) change = item.mine ? {} : { done: 1 };
    act(screen.urls.save, body, (data) => {
      remember({ record_id: item.record_id, snippet: item.text.slice(0, 90), skipped: false, label_ids: labelIds });
      carryOn(data, change);
    });
  }

  function chooseLabel(id) {
    if (!state.item || state.busy) return;
    if (single) {
      state.selected = new Set([id]);
      drawSelection();
      save();
    } else {
      if (state.selected.has(id)) state.selected.delete(id);
      else state.selected.add(id);
      drawSelection();
    }
  }

  function skip() {
    const item = state.item;
    if (!item) return;
    const wasBack = state.back;
    act(screen.urls.skip, { record_id: item.record_id }, (data) => {
      if (!wasBack) remember({ record_id: item.record_id, snippet: item.text.slice(0, 90), skipped: true, label_ids: [] });
      carryOn(data, wasBack ? {} : { remaining: -1 });
    });
  }

  function undo() {
    act(screen.urls.undo, {}, (data) => {
      // An answer taken back, or a skip: either way the record is mine to do again.
      carryOn(data, data.item && data.item.mine ? { done: -1, remaining: 1 } : { remaining: 1 });
      if (data.item) {
        forget(data.item.record_id);
        showMessage(`Record #${data.item.record_id} is back: answer it again.`, "info");
      }
    });
  }

  function openEarlier(recordId) {
    act(screen.urls.item.replace("{id}", String(recordId)), undefined, (data) => {
      state.item = data.item;
      state.back = true;
      drawItem();
    });
  }

  function toggleHelp() {
    if (el.help.open) el.help.close();
    else el.help.showModal();
  }

  // --- Mouse --------------------------------------------------------------------------------
  for (const button of labelButtons) {
    button.addEventListener("click", () => chooseLabel(Number(button.dataset.labelId)));
  }
  el.save.addEventListener("click", save);
  el.skip.addEventListener("click", skip);
  for (const button of root.querySelectorAll(".ann-undo")) button.addEventListener("click", undo);
  el.helpButton.addEventListener("click", toggleHelp);

  // --- Keyboard -----------------------------------------------------------------------------
  function isTyping(target) {
    if (!(target instanceof HTMLElement)) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(target.type);
  }

  function labelForKey(key) {
    const exact = labelButtons.find((button) => button.dataset.hotkey === key);
    if (exact) return exact;
    return labelButtons.find((button) => button.dataset.hotkey && button.dataset.hotkey.toLowerCase() === key.toLowerCase());
  }

  /** A key the screen used: nobody else acts on it (unfold's sidebar search listens for "t" on
   * the window, which would steal the focus from a label with that key). */
  function handled(event) {
    event.preventDefault();
    event.stopPropagation();
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    if (el.help.open) {
      if (event.key === "?") {
        handled(event);
        el.help.close();
      }
      return; // the dialog handles Esc and Tab itself
    }
    const target = event.target;
    if (isTyping(target)) {
      if (event.key === "Escape") {
        handled(event);
        target.blur();
      } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target === el.comment) {
        handled(event);
        save();
      }
      return; // while typing, keys are text
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return; // the browser's own shortcuts

    const key = event.key;
    if (key === "?") {
      handled(event);
      toggleHelp();
      return;
    }
    if (key === "Enter") {
      const onLabel = target instanceof HTMLElement && target.classList.contains("ann-label");
      // A focused button or link does what it says; on a label of a multi-label set, Enter saves.
      if (target instanceof HTMLElement && target.closest("button, a, summary") && !(onLabel && !single)) return;
      handled(event);
      save();
      return;
    }
    if (key === "Escape") {
      clearMessage();
      return;
    }
    if (key.length === 1 && key !== " ") {
      const label = labelForKey(key);
      if (label) {
        handled(event);
        chooseLabel(Number(label.dataset.labelId));
        return;
      }
    }
    const action = key === "Backspace" ? "z" : key.toLowerCase();
    switch (action) {
      case "s":
        handled(event);
        skip();
        break;
      case "z":
        handled(event);
        undo();
        break;
      case "u":
        if (!state.item) break;
        handled(event);
        el.unsure.checked = !el.unsure.checked;
        break;
      case "c":
        if (!state.item) break;
        handled(event);
        el.comment.focus();
        break;
      default:
        break;
    }
  });

  drawItem();
  drawCounts();
  drawRecent();
  root.dataset.ready = "true"; // keys work from here on (tests wait for it)
})();
