// Drives the composer (/admin) in headless Chromium: pin, drag and drop, keyboard move,
// an override, and checks that none of them reloads the page, that the scroll position
// is kept, the live region speaks, and the page logs no error (a CSP violation would).
// Run by the ignored test `curation::composer_in_headless_chromium` (see the README);
// needs playwright-core on NODE_PATH and Chromium at $CHROMIUM (default /usr/bin/chromium).
// Environment: BASE (the running service), EMAIL, PASSWORD, SHOTS (a folder for PNGs).
"use strict";
const { chromium } = require("playwright-core");

const base = process.env.BASE;
const shots = process.env.SHOTS || "/tmp";

function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

async function order(page) {
  return page.$$eval("#articles li[data-article][draggable]", (items) =>
    items.map((li) => li.getAttribute("data-article")));
}

async function heard(page, pattern) {
  await page.waitForFunction(
    (p) => new RegExp(p).test(document.getElementById("composer-status").textContent),
    pattern, { timeout: 15000 });
  return page.textContent("#composer-status");
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  if (process.env.DEBUG) {
    page.on("console", (m) => console.log("console: " + m.text()));
    page.on("response", (r) => console.log("response: " + r.status() + " " + r.url() + " " + (r.headers()["content-type"] || "")));
  }

  await page.goto(base + "/admin/login");
  await page.fill("input[name=email]", process.env.EMAIL);
  await page.fill("input[name=password]", process.env.PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  await page.goto(base + "/admin");
  errors.length = 0; // the sign-in page's missing favicon is not the composer's
  await page.screenshot({ path: shots + "/composer-1-start.png", fullPage: true });
  // A page reload would lose this marker.
  await page.evaluate(() => { window.__stayed = true; });

  // Pin the third article, from a scrolled position.
  const start = await order(page);
  check(start.length >= 4, "four or more articles listed");
  await page.evaluate(() => window.scrollTo(0, 300));
  const y = await page.evaluate(() => window.scrollY);
  await page.click(`#article-${start[2]} button[data-action=pin]`);
  const said = await heard(page, "^Pinned");
  check(said.includes("now 1 of"), "pinning is announced: " + said);
  check(await page.evaluate(() => window.__stayed === true), "no reload after pin");
  check(Math.abs((await page.evaluate(() => window.scrollY)) - y) < 5, "scroll position kept");
  const focused = await page.evaluate(() => document.activeElement.closest("li") &&
    document.activeElement.closest("li").id);
  check(focused === `article-${start[2]}`, "focus stays on the pinned article");
  check((await order(page))[0] === start[2], "the pinned article is first");
  await page.screenshot({ path: shots + "/composer-2-pinned.png", fullPage: true });

  // Drag the last article onto the top half of the second one.
  let now = await order(page);
  const last = now[now.length - 1];
  await page.dragAndDrop(`#article-${last}`, `#article-${now[1]}`, {
    targetPosition: { x: 40, y: 4 },
  });
  await heard(page, "^Moved");
  check(await page.evaluate(() => window.__stayed === true), "no reload after drag");
  const dragged = await order(page);
  check(dragged.indexOf(last) < now.indexOf(last), "the dragged article moved up: " + dragged);
  await page.screenshot({ path: shots + "/composer-3-dragged.png", fullPage: true });

  // Keyboard: focus an article and press Alt+ArrowUp.
  now = await order(page);
  const k = now[now.length - 1];
  await page.focus(`#article-${k}`);
  await page.keyboard.press("Alt+ArrowUp");
  const moved = await heard(page, "^Moved up");
  check(moved.includes("“"), "keyboard move is announced: " + moved);
  const after = await order(page);
  check(after.indexOf(k) === now.indexOf(k) - 1, "Alt+ArrowUp moved it one place up");
  check(await page.evaluate((id) => document.activeElement.id === "article-" + id, k),
    "focus follows the moved article");

  // Override a headline for this issue.
  const target = after[1];
  await page.click(`#article-${target} details.edit summary`);
  await page.fill(`#ov-${target}-title`, "A headline for this issue only");
  await page.click(`#article-${target} button[data-action=save]`);
  await heard(page, "^Saved for this issue");
  check(await page.evaluate(() => window.__stayed === true), "no reload after the override");
  const item = await page.textContent(`#article-${target}`);
  check(item.includes("A headline for this issue only") && item.includes("edited for this issue")
    && item.includes("Feed's headline"), "the override is shown as such");
  // The preview reloaded with the change.
  await page.waitForTimeout(1500);
  const frame = page.frame({ url: /preview\.html/ });
  const inPreview = frame && (await frame.content()).includes("A headline for this issue only");
  check(inPreview, "the preview shows the override");
  await page.screenshot({ path: shots + "/composer-4-override.png", fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: shots + "/composer-5-phone.png", fullPage: true });

  check(errors.length === 0, "no console errors: " + errors.join(" | "));
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
