// Journeys through Consentry's web interface in headless Chromium (Debian's package),
// with axe-core on every page visited and a screenshot of each. Run by the Rust test
// suite (tests/api/browser.rs) against a server it started; prints a JSON report.
//
//   node journeys.mjs <journey> --base URL --user ID --lang nl|en --shots DIR
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : fallback;
}

const journey = process.argv[2];
const base = option('base');
const user = option('user');
const lang = option('lang', 'en');
const shots = option('shots', 'target/browser-screenshots');
mkdirSync(shots, { recursive: true });

const words = {
  nl: { withdraw: 'Toestemming intrekken', give: 'Toestemming geven', saved: 'Je keuze is opgeslagen' },
  en: { withdraw: 'Withdraw consent', give: 'Give consent', saved: 'Your choice is saved' },
}[lang];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const report = { journey, lang, pages: [], violations: [], without_javascript: [] };
let step = 0;

/** Runs axe on the page, takes its screenshot and notes both. */
async function check(page, name) {
  step += 1;
  const path = `${shots}/${journey}-${lang}-${String(step).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path, fullPage: true });
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }));
  const htmlLang = await page.evaluate(() => document.documentElement.lang);
  report.pages.push({ name, url: new URL(page.url()).pathname, lang: htmlLang, screenshot: path });
  for (const violation of result.violations) {
    report.violations.push({ page: name, id: violation.id, impact: violation.impact, help: violation.help,
      nodes: violation.nodes.map((node) => node.target.join(' ')) });
  }
}

async function failWith(message) {
  report.error = message;
  console.log(JSON.stringify(report));
  await browser.close();
  process.exit(1);
}

try {
  const context = await browser.newContext({ locale: lang === 'nl' ? 'nl-NL' : 'en-GB', viewport: { width: 1024, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await check(page, 'sign-in');
  await page.goto(`${base}/auth/demo`);
  await check(page, 'demo-picker');
  await page.click(`button[value="${user}"]`);
  await page.waitForURL(`${base}/my`);
  await check(page, 'my-choices');

  if (journey === 'student') {
    const research = page.locator('section#purpose-learning-research, section[aria-labelledby="purpose-learning-research"]');
    await research.getByRole('button', { name: words.withdraw }).click();
    await page.waitForURL(/\/my\?saved=learning-research/);
    const notice = await page.locator('[role="status"]').innerText();
    if (!notice.includes(words.saved)) await failWith(`no confirmation after withdrawing: ${notice}`);
    if (await research.getByRole('button', { name: words.give }).count() !== 1) await failWith('the choice did not flip to giving consent');
    await check(page, 'my-choices-withdrawn');
    for (const [path, name] of [['/my/data', 'my-data'], ['/my/disclosures', 'my-disclosures'], ['/my/interventions', 'my-interventions']]) {
      await page.goto(`${base}${path}`);
      await check(page, name);
    }
  } else {
    await failWith(`unknown journey ${journey}`);
  }

  // Every page works without JavaScript: the same session, scripts off.
  const cookies = await context.cookies();
  const plain = await browser.newContext({ javaScriptEnabled: false, locale: lang === 'nl' ? 'nl-NL' : 'en-GB' });
  await plain.addCookies(cookies);
  const plainPage = await plain.newPage();
  for (const visited of report.pages) {
    if (visited.name === 'sign-in' || visited.name === 'demo-picker') continue;
    const response = await plainPage.goto(`${base}${visited.url}`);
    const heading = await plainPage.locator('h1').first().innerText();
    report.without_javascript.push({ url: visited.url, status: response.status(), heading });
  }
} catch (error) {
  await failWith(String(error && error.stack || error));
}
console.log(JSON.stringify(report));
await browser.close();
