// The review screen from the keyboard: a label's hotkey picks it (toggles it in a multi-label set),
// Enter saves, "a" accepts the majority, "g" toggles gold, "n" opens the next record unsaved.
// The page works without this file: these keys only press the form's own controls.
(() => {
  const form = document.getElementById("review-form");
  if (!form) return;

  const labelInputs = new Map();
  for (const input of form.querySelectorAll("input[name=labels][data-hotkey]")) {
    labelInputs.set(input.dataset.hotkey.toLowerCase(), input);
  }
  const keyOf = (element) => (element ? (element.querySelector("kbd")?.textContent || "").trim().toLowerCase() : "");
  const save = document.getElementById("save-decision");
  const majority = document.getElementById("accept-majority");
  const gold = form.querySelector("input[name=gold]");
  const next = document.getElementById("next-record");
  // The action keys the server left free (a label that uses one keeps it).
  const actionKeys = new Map();
  if (majority && !majority.disabled && keyOf(majority)) actionKeys.set(keyOf(majority), () => submit(majority));
  if (gold && keyOf(gold.closest("label"))) actionKeys.set(keyOf(gold.closest("label")), () => { gold.checked = !gold.checked; });
  if (next && keyOf(next)) actionKeys.set(keyOf(next), () => { window.location.href = next.href; });

  let sent = false;
  function submit(button) {
    if (sent) return; // one decision per page: a held Enter must not post twice
    sent = true;
    form.requestSubmit(button);
  }
  form.addEventListener("submit", () => { sent = true; });

  const isTyping = (el) =>
    el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable ||
      (el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit", "hidden"].includes(el.type)));

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    const target = event.target;
    if (isTyping(target)) {
      if (event.key === "Escape") target.blur();
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form.contains(target)) {
        event.preventDefault();
        submit(save);
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Enter") {
      // A focused link or button keeps its own Enter.
      if (target.closest && target.closest("a, button")) return;
      event.preventDefault();
      submit(save);
      return;
    }
    if (event.key.length !== 1) return;
    const key = event.key.toLowerCase();
    const input = labelInputs.get(key);
    if (input) {
      event.preventDefault();
      input.checked = input.type === "checkbox" ? !input.checked : true;
      input.focus({ preventScroll: true });
      return;
    }
    const act = actionKeys.get(key);
    if (act) {
      event.preventDefault();
      act();
    }
  });
})();
