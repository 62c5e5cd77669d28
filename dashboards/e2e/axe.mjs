// Accessibility check of a page with axe-core (injected from node_modules; the browser
// context bypasses the server's CSP for it): the violations of impact serious or critical,
// each with the selectors of the first nodes, so that a failure says where to look.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axePath = require.resolve('axe-core/axe.min.js');

/** The serious and critical violations on `page` (WCAG 2.1 A/AA rules and best practice). */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    await page.addScriptTag({ path: axePath });
  }
  const result = await page.evaluate(async () =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    }),
  );
  return result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.slice(0, 3).map((node) => node.target.join(' ')),
      count: violation.nodes.length,
    }));
}

/** Throws naming every serious or critical violation on `page` (`where`: the page's name). */
export async function expectAccessible(page, where) {
  const violations = await axeViolations(page);
  if (violations.length) {
    const lines = violations.map((v) => `${v.impact} ${v.id} (${v.count}×): ${v.help} — ${v.nodes.join(' | ')}`);
    throw new Error(`axe on ${where}: ${violations.length} serious/critical violation(s):\n  ${lines.join('\n  ')}`);
  }
}
