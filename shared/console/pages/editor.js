// The editor page (in progress).

import { h, pageHeader } from "../ui.js";

export async function render(ctx) {
  return h("section", {}, pageHeader("Editor"), h("p", { class: "muted" }, `View ${ctx.view}`));
}
