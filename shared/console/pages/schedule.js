// The schedule page (in progress).

import { h, pageHeader } from "../ui.js";

export async function render(ctx) {
  return h("section", {}, pageHeader("Schedule"), h("p", { class: "muted" }, `View ${ctx.view}`));
}
