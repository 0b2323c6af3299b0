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
const student = option('student');
const proposal = option('proposal');
const paths = (option('paths', '') || '').split(',').filter(Boolean);
const landing = option('landing', '/');
const lang = option('lang', 'en');
const shots = option('shots', 'target/browser-screenshots');
mkdirSync(shots, { recursive: true });

const words = {
  nl: { withdraw: 'Toestemming intrekken', give: 'Toestemming geven', saved: 'Je keuze is opgeslagen',
    why: 'Waarom', approve: 'Goedkeuren', decide: 'Besluit vastleggen', approved: 'goedgekeurd', decline: 'Afslaan',
    policies: 'Toegangsregels', save: 'Controleren en als concept opslaan', replay: 'Afspelen', activate: 'Concept activeren',
    changes: 'vallen anders uit', active: 'Actief: versie' },
  en: { withdraw: 'Withdraw consent', give: 'Give consent', saved: 'Your choice is saved',
    why: 'Why', approve: 'Approve', decide: 'Record decision', approved: 'approved', decline: 'Decline',
    policies: 'Access policies', save: 'Validate and save as draft', replay: 'Replay', activate: 'Activate this draft',
    changes: 'would change', active: 'Active: version' },
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

/** Signs in through the demo picker as `who` in a fresh context; returns the page. */
async function signIn(who, landing) {
  const context = await browser.newContext({ locale: lang === 'nl' ? 'nl-NL' : 'en-GB', viewport: { width: 1024, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/auth/demo`);
  await page.fill('#demo-sub', who);
  await page.click('#demo-sub-submit');
  await page.waitForURL(`${base}${landing}`);
  return { context, page };
}

let context;
try {
  if (journey === 'student') {
    const anonymous = await browser.newPage({ locale: lang === 'nl' ? 'nl-NL' : 'en-GB' });
    await anonymous.goto(`${base}/`);
    await check(anonymous, 'sign-in');
    await anonymous.goto(`${base}/auth/demo`);
    await check(anonymous, 'demo-picker');
    let page;
    ({ context, page } = await signIn(user, '/my'));
    await check(page, 'my-choices');
    const research = page.locator('section[aria-labelledby="purpose-learning-research"]');
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
  } else if (journey === 'mentor') {
    let page;
    ({ context, page } = await signIn(user, '/'));
    await check(page, 'home');
    await page.goto(`${base}/proposals`);
    await check(page, 'proposals');
    await page.click(`a[href="/proposals/${proposal}"]`);
    await page.waitForURL(`${base}/proposals/${proposal}`);
    // The explanation comes first: its heading precedes the decision form.
    const headings = await page.locator('main h2').allInnerTexts();
    if (!headings[0].startsWith(words.why)) await failWith(`the explanation is not first: ${headings}`);
    if (await page.locator('svg.chart').count() < 1) await failWith('no indicator chart');
    await check(page, 'proposal');
    await page.getByLabel(words.approve, { exact: true }).check();
    await page.getByRole('button', { name: words.decide }).click();
    await page.waitForURL(`${base}/proposals/${proposal}`);
    const status = await page.locator('main').innerText();
    if (!status.includes(words.approved)) await failWith('the proposal is not approved');
    await check(page, 'proposal-approved');
    const seen = await signIn(student, '/my');
    await seen.page.goto(`${base}/my/interventions`);
    if (await seen.page.getByRole('button', { name: words.decline }).count() !== 1) await failWith('the student does not see the intervention');
    await check(seen.page, 'student-interventions');
  } else if (journey === 'officer') {
    let page;
    ({ context, page } = await signIn(user, '/'));
    await page.goto(`${base}/office`);
    await check(page, 'office');
    await page.getByRole('link', { name: words.policies }).click();
    await page.waitForURL(`${base}/office/policies`);
    await check(page, 'policies');
    const governance = page.getByLabel('governance.cedar', { exact: true });
    const original = await governance.inputValue();
    const rule = '@id("audit-read-admins")\npermit (principal is Consentry::User, action == Consentry::Action::"ReadAudit", resource is Consentry::AuditLog)\n';
    await governance.fill(`${original}\n${rule}when { principal.roles.containz("admin") };\n`);
    await page.getByRole('button', { name: words.save }).click();
    const problems = await page.locator('#problems').innerText();
    if (!/governance\.cedar:\d+:\d+/.test(problems)) await failWith(`no problem at line and column: ${problems}`);
    await check(page, 'policies-invalid');
    await page.getByLabel('governance.cedar', { exact: true }).fill(`${original}\n${rule}when { principal.roles.contains("admin") };\n`);
    await page.getByRole('button', { name: words.save }).click();
    await page.waitForURL(/\/office\/policies\/drafts\/\d+$/);
    if (await page.locator('pre.diff ins').count() < 1) await failWith('the diff shows no added lines');
    await check(page, 'draft');
    await page.getByRole('link', { name: words.replay }).click();
    await page.waitForURL(/replay=1/);
    const replayed = await page.locator('#replay').innerText();
    if (!replayed.includes(words.changes)) await failWith(`no replay result: ${replayed}`);
    await check(page, 'draft-replayed');
    await page.getByRole('button', { name: words.activate }).click();
    await page.waitForURL(`${base}/office/policies`);
    if (!(await page.locator('main').innerText()).includes(words.active)) await failWith('the draft is not active');
    await check(page, 'policies-activated');
  } else if (journey === 'tour') {
    let page;
    ({ context, page } = await signIn(user, landing));
    for (const path of paths) {
      const response = await page.goto(`${base}${path}`);
      if (response.status() >= 500) await failWith(`${path} answered ${response.status()}`);
      await check(page, path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '') || 'home');
    }
  } else {
    await failWith(`unknown journey ${journey}`);
  }

  // Every page works without JavaScript: the same session, scripts off.
  const cookies = await context.cookies();
  // Pages reached by posting a form (a refused draft) are not addresses to load again.
  const signedIn = report.pages.filter((visited) =>
    !['sign-in', 'demo-picker', 'student-interventions', 'policies-invalid'].includes(visited.name));
  const plain = await browser.newContext({ javaScriptEnabled: false, locale: lang === 'nl' ? 'nl-NL' : 'en-GB' });
  await plain.addCookies(cookies);
  const plainPage = await plain.newPage();
  for (const visited of signedIn) {
    const response = await plainPage.goto(`${base}${visited.url}`);
    const heading = await plainPage.locator('h1').first().innerText();
    report.without_javascript.push({ url: visited.url, status: response.status(), heading });
  }
} catch (error) {
  await failWith(String(error && error.stack || error));
}
console.log(JSON.stringify(report));
await browser.close();
