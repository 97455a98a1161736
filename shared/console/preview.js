// The transient preview (`POST /api/v1/ws/{ws}/reports/preview`) as the editor and the
// dashboards show it: a rendered HTML document in a frame under the console's content security
// policy, and a rendered file downloaded under the name the server gives it. Nothing is recorded.

import { api, request } from "./api.js";
import { h } from "./ui.js";

/**
 * Shows a rendered HTML document in an empty frame. The console's content security policy
 * (which a frame of this page inherits) refuses inline <style> and style attributes, so they
 * are renamed before parsing (the renderer escapes `<` and `"` in text, so only markup
 * matches) and applied through the CSS object model instead.
 */
export function fillHtmlFrame(frame, html) {
  const doc = frame.contentDocument;
  const win = frame.contentWindow;
  if (!doc || !win) return;
  const inert = html
    .replace(/<style\b[^>]*>/gi, "<textarea data-preview-sheet>")
    .replace(/<\/style>/gi, "</textarea>")
    .replace(/(\s)style="/gi, '$1data-preview-style="');
  const parsed = new DOMParser().parseFromString(inert, "text/html");
  const sheets = [...parsed.querySelectorAll("textarea[data-preview-sheet]")].map((el) => {
    const sheet = new win.CSSStyleSheet();
    sheet.replaceSync(el.value);
    el.remove();
    return sheet;
  });
  parsed.querySelectorAll("script, link, meta").forEach((el) => el.remove());
  for (const el of parsed.querySelectorAll("*")) {
    for (const attr of [...el.attributes]) if (attr.name.startsWith("on")) el.removeAttribute(attr.name);
  }
  doc.adoptedStyleSheets = sheets;
  doc.title = parsed.title;
  doc.body.className = parsed.body.className;
  doc.body.replaceChildren(...[...parsed.body.childNodes].map((n) => doc.importNode(n, true)));
  for (const el of doc.querySelectorAll("[data-preview-style]")) {
    el.style.cssText = el.getAttribute("data-preview-style");
    el.removeAttribute("data-preview-style");
  }
}

/** Renders `body` (a preview request with its `format`) and saves the file the browser's way. */
export async function downloadPreview(body, signal) {
  const response = await request("POST", api.ws("/reports/preview"), { body, as: "response", signal });
  const blob = await response.blob();
  const name = response.headers.get("Content-Disposition")?.match(/filename="([^"]+)"/)?.[1] ?? `report.${body.format}`;
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, class: "sr-only" }, name);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
