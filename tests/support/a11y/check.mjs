// Opens each page of a plan in headless Chromium at 1200 and 390 px wide, in the light
// and the dark colour scheme, saves a screenshot of each, and runs axe-core on it.
// Exits 1 if axe finds any violation or a page scrolls sideways on a phone.
//
//   node check.mjs PLAN.json OUT_DIR
//
// PLAN.json: [{"name": "signup", "url": "http://127.0.0.1:8080/",
//              "fill": {"#field-email": "a@example.org"}, "click": "form button[type=submit]",
//              "axe": true}]
// `fill` and `click` happen after the page loads (to reach a page that answers a form);
// `then` is opened after that (a page behind the admin's sign-in).
// `url` may be a list of four, one per run (1200 light, 1200 dark, 390 light, 390 dark),
// for links that work once (a confirmation).
// `axe: false` only takes screenshots (an email, which is not a web page).
// Chromium: $CHROMIUM, else /usr/bin/chromium. Run by tests/it/a11y.rs.

import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");
const [planFile, outDir] = process.argv.slice(2);
if (!planFile || !outDir) {
  console.error("usage: node check.mjs PLAN.json OUT_DIR");
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planFile, "utf8"));
mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
/// A picture-shaped placeholder, its colours picked from the address so they differ.
function standIn(url) {
  const palette = [["#b3001b", "#f3d9c9"], ["#2c3e50", "#d9e2ea"], ["#6b4f2a", "#efe2cf"]];
  const [fg, bg] = palette[[...url].reduce((a, c) => a + c.charCodeAt(0), 0) % palette.length];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1072" height="603" viewBox="0 0 16 9"><rect width="16" height="9" fill="${bg}"/><circle cx="11" cy="4" r="2.6" fill="${fg}"/><rect x="2" y="6" width="7" height="1" fill="${fg}"/></svg>`;
}

let problems = 0;
let run = -1;
for (const width of [1200, 390]) {
  for (const scheme of ["light", "dark"]) {
    run++;
    // bypassCSP: axe is injected as a script, which the pages' own policy forbids.
    const context = await browser.newContext({
      viewport: { width, height: 900 },
      colorScheme: scheme,
      bypassCSP: true,
    });
    // Loopback only: pictures the test feeds point at elsewhere get a local stand-in,
    // anything else off this machine is refused.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) =>
      route.request().resourceType() === "image"
        ? route.fulfill({ contentType: "image/svg+xml", body: standIn(route.request().url()) })
        : route.abort(),
    );
    for (const step of plan) {
      const page = await context.newPage();
      const label = `${step.name}-${width}-${scheme}`;
      try {
        await page.goto(Array.isArray(step.url) ? step.url[run] : step.url, { waitUntil: "load" });
        for (const [selector, value] of Object.entries(step.fill || {})) {
          await page.fill(selector, value);
        }
        if (step.click) {
          await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(step.click)]);
        }
        if (step.then) {
          await page.goto(step.then, { waitUntil: "load" });
        }
        await page.screenshot({ path: `${outDir}/${label}.png`, fullPage: true });
        const sideways = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        if (sideways > 1) {
          problems++;
          console.log(`${label}: scrolls sideways by ${sideways}px`);
        }
        if (step.axe !== false) {
          await page.addScriptTag({ path: axePath });
          const result = await page.evaluate(async () => await window.axe.run(document));
          for (const v of result.violations) {
            problems++;
            const where = v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join(" | ");
            console.log(`${label}: ${v.id} (${v.impact}): ${v.help} — ${where}`);
            for (const n of v.nodes.slice(0, 3)) {
              console.log(`    ${n.failureSummary?.replace(/\n/g, " ")}`);
            }
          }
          console.log(`${label}: ${result.violations.length} violations, ${result.passes.length} rules passed`);
        } else {
          console.log(`${label}: screenshot only`);
        }
      } catch (e) {
        problems++;
        console.log(`${label}: could not be checked: ${e.message}`);
      }
      await page.close();
    }
    await context.close();
  }
}
await browser.close();
process.exit(problems ? 1 : 0);
