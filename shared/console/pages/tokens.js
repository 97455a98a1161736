// The tokens page (in progress).

import { h, pageHeader } from "../ui.js";

export async function render(ctx) {
  return h("section", {}, pageHeader("Tokens"), h("p", { class: "muted" }, `View ${ctx.view}`));
}
