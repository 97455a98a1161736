// The destinations page (in progress).

import { h, pageHeader } from "../ui.js";

export async function render(ctx) {
  return h("section", {}, pageHeader("Destinations"), h("p", { class: "muted" }, `View ${ctx.view}`));
}
