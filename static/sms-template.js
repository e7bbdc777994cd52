/* The SMS text editor in the admin panel (templates/admin/sms_template_form.html): while the
   admin types, show the message as it will be sent (placeholders filled in with the example
   values the page carries, and the origin-bound line added) with its encoding and segment
   count. The server counts the same way and has the last word: the page works without this
   script (its Preview button asks the server).

   segments() mirrors idp/sms/encoding.py and fill() mirrors idp/verification/messages.py;
   tests/admin/test_sms_templates.py runs both under node and compares them with Python's. */
(function () {
  "use strict";

  // GSM 03.38: the basic table (one septet each) and the extension table (two septets).
  const GSM_BASIC = new Set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
  );
  const GSM_EXTENSION = new Set("\f^{}\\[~]|€");
  const PLACEHOLDERS = ["code", "minutes", "app"];

  function isGsm7(text) {
    for (const ch of text) {
      if (!GSM_BASIC.has(ch) && !GSM_EXTENSION.has(ch)) return false;
    }
    return true;
  }

  // Parts needed for characters of the given widths, never splitting one character.
  function pack(widths, single, part) {
    const total = widths.reduce((sum, width) => sum + width, 0);
    if (total <= single) return 1;
    let parts = 1;
    let used = 0;
    for (const width of widths) {
      if (used + width > part) {
        parts += 1;
        used = 0;
      }
      used += width;
    }
    return parts;
  }

  // {encoding, units, count}, as idp.sms.encoding.segments() answers. A string iterates by
  // code point, as a Python str does; a character outside the BMP is two UTF-16 units.
  function segments(text) {
    const chars = Array.from(text);
    if (isGsm7(text)) {
      const widths = chars.map((ch) => (GSM_EXTENSION.has(ch) ? 2 : 1));
      return { encoding: "GSM-7", units: widths.reduce((a, b) => a + b, 0), count: pack(widths, 160, 153) };
    }
    const widths = chars.map((ch) => (ch.codePointAt(0) > 0xffff ? 2 : 1));
    return { encoding: "UCS-2", units: widths.reduce((a, b) => a + b, 0), count: pack(widths, 70, 67) };
  }

  // The template with {code}, {minutes} and {app} filled in ("{{" and "}}" are braces), as
  // str.format does. ok is false for what the server would refuse: another name, a format
  // spec, a brace that is not closed, or no {code}.
  function fill(template, values) {
    let text = "";
    let ok = true;
    let hasCode = false;
    for (let i = 0; i < template.length; i++) {
      const ch = template[i];
      if (ch === "{" && template[i + 1] === "{") {
        text += "{";
        i += 1;
      } else if (ch === "}" && template[i + 1] === "}") {
        text += "}";
        i += 1;
      } else if (ch === "{") {
        const end = template.indexOf("}", i + 1);
        const name = end < 0 ? null : template.slice(i + 1, end);
        if (name === null || name.includes("{")) {
          ok = false;
          text += template.slice(i);
          break;
        }
        if (PLACEHOLDERS.includes(name)) {
          text += String(values[name]);
          hasCode = hasCode || name === "code";
        } else {
          ok = false;
          text += template.slice(i, end + 1);
        }
        i = end;
      } else if (ch === "}") {
        ok = false;
        text += ch;
      } else {
        text += ch;
      }
    }
    return { text: text, ok: ok && hasCode };
  }

  // The whole message: the admin's text tidied as the server tidies it, then the
  // origin-bound line ("@host #code").
  function render(raw, values) {
    const template = raw.replace(/\r\n?/g, "\n").trim();
    const filled = fill(template, values);
    const text = values.host ? filled.text + "\n\n@" + values.host + " #" + values.code : filled.text;
    return { text: text, ok: filled.ok && template.length > 0 };
  }

  function plural(data, key, count) {
    return (count === 1 ? data[key + "One"] : data[key + "Many"]).replace("{n}", String(count));
  }

  // "2 segments · GSM-7 · 148 characters", as the server's count_line() writes it; *data* holds
  // the page's translated words (the form's data-* attributes).
  function countLine(text, data, budget) {
    const info = segments(text);
    const parts = [
      plural(data, "segment", info.count),
      info.encoding,
      plural(data, "character", Array.from(text).length),
    ];
    if (info.count > budget) parts.push(data.over);
    return parts.join(" · ");
  }

  function start(form) {
    const field = form.querySelector("textarea[name=template]");
    const preview = document.getElementById("template-preview");
    const status = document.getElementById("template-count");
    const units = document.getElementById("template-units");
    if (!field || !preview || !status) return;
    const data = form.dataset;
    const values = { code: data.code, minutes: data.minutes, app: data.app, host: data.host };
    const budget = Number(data.budget);
    let timer = null;

    function update() {
      const message = render(field.value, values);
      const line = countLine(message.text, data, budget);
      const info = segments(message.text);
      preview.textContent = message.text;
      status.textContent = message.ok ? line : line + " · " + data.invalid;
      status.classList.toggle("over-budget", info.count > budget);
      if (units) {
        const words = info.encoding === "GSM-7" ? data.unitsGsm : data.unitsUcs;
        units.textContent = words.replace("{n}", String(info.units));
      }
    }

    field.addEventListener("input", function () {
      // The count is a live region: let a screen reader hear it when typing pauses.
      window.clearTimeout(timer);
      timer = window.setTimeout(update, 250);
    });
    update();
  }

  if (typeof module === "object" && module.exports) {
    module.exports = { segments: segments, fill: fill, render: render, countLine: countLine };
  } else if (typeof document !== "undefined") {
    const begin = function () {
      document.querySelectorAll("form[data-sms-template]").forEach(start);
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", begin);
    } else {
      begin();
    }
  }
})();
