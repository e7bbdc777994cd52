/* Poort's proof of work (idp/abuse/pow.py): before a form that asks for a code is sent, find
   a counter such that SHA-256(challenge + ":" + counter) starts with `bits` zero bits, and put
   it in the form's pow_solution field. Solving starts when the page loads; a form sent before
   the puzzle is solved waits for it, with its send button disabled and a status message. */
(function () {
  "use strict";

  const BATCH = 512; // hashes per round; the page gets a turn between rounds

  function leadingZeroBits(bytes) {
    let bits = 0;
    for (const byte of bytes) {
      if (byte !== 0) return bits + Math.clz32(byte) - 24;
      bits += 8;
    }
    return bits;
  }

  // Resolves to the counter, as decimal digits, that solves `challenge` at `bits`.
  async function solve(challenge, bits) {
    const subtle = globalThis.crypto && globalThis.crypto.subtle;
    if (!subtle) throw new Error("this browser has no Web Crypto here");
    const encoder = new TextEncoder();
    for (let start = 0; ; start += BATCH) {
      const work = [];
      for (let n = start; n < start + BATCH; n++) {
        work.push(subtle.digest("SHA-256", encoder.encode(challenge + ":" + n)));
      }
      const digests = await Promise.all(work);
      for (let i = 0; i < digests.length; i++) {
        if (leadingZeroBits(new Uint8Array(digests[i])) >= bits) return String(start + i);
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  function sendButtons(form) {
    return form.querySelectorAll("button:not([type]), button[type=submit], input[type=submit]");
  }

  function attach(field) {
    const form = field.form;
    if (!form || form.dataset.powStarted) return;
    form.dataset.powStarted = "yes";
    const solution = form.elements.namedItem("pow_solution");
    const status = form.querySelector(".human-check-status");
    // The texts come from the page (data-busy, data-failed), in its language.
    const text = (key, fallback) => (status && status.dataset && status.dataset[key]) || fallback;
    let done = false;
    let waiting = false;
    let submitter = null;

    function busy(on) {
      for (const button of sendButtons(form)) button.disabled = on;
      if (status) status.textContent = on ? text("busy", "Checking your browser\u2026") : "";
    }

    form.addEventListener("submit", (event) => {
      if (done) return;
      event.preventDefault();
      waiting = true;
      submitter = event.submitter || submitter;
      busy(true);
    });

    const bits = Number(field.value.split(".")[2]);
    solve(field.value, bits).then(
      (counter) => {
        solution.value = counter;
        finish();
      },
      () => {
        // Send without a solution: Poort then says what else the person can do.
        finish();
        if (status) status.textContent = text("failed", "Your browser could not solve the puzzle.");
      }
    );

    function finish() {
      done = true;
      busy(false);
      if (!waiting) return;
      if (form.requestSubmit) form.requestSubmit(submitter || undefined);
      else form.submit();
    }
  }

  if (typeof module === "object" && module.exports) {
    module.exports = { solve, leadingZeroBits };
  }
  if (typeof window === "object") {
    window.poortSolve = solve;
  }
  if (typeof document === "object") {
    const start = () => document.querySelectorAll("input[name=pow_challenge]").forEach(attach);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})();
