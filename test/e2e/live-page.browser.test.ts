import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LiveSystem, startLiveSystem } from '../../local/live/index.ts';
import { ensureChromium, thisMachine } from '../helpers/chromium.ts';
import { api, newRegistrationId, newUserId } from '../helpers/local-system.ts';

// The live page in headless Chromium, against the local system wired as
// `npm start` wires it. The browser is found (CHROME_PATH, PATH, the usual
// places) or installed (Debian's chromium, as root) by the global setup,
// test/helpers/chromium-setup.ts, before any test starts.
const CHROMIUM = inject('chromium') ?? ensureChromium(thisMachine());

let live: LiveSystem;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  if ('error' in CHROMIUM) throw new Error(CHROMIUM.error);
  live = await startLiveSystem({
    onCallPhoneNumbers: ['+15555550100'],
    smsCountries: ['CN'],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM.path,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await live?.close();
});

const card = (messageId: string) =>
  page.locator(`[data-message-id="${messageId}"]`);

describe('the live page', () => {
  it('shows a new message appear and change status without a reload', async () => {
    // Prepare
    const user = newUserId('alice');
    const rid = newRegistrationId();
    await api(live.system, 'PUT', `/local/devices/${rid}`, {
      online: true,
      autoAck: true,
      ackDelayMs: 1500,
    });
    await api(live.system, 'POST', '/v1/sessions', {
      userId: user,
      registrationId: rid,
      platform: 'android',
    });
    await page.goto(`${live.system.url}/`);
    await page.locator('#conn.live').waitFor({ timeout: 10_000 });
    await page.evaluate(() => {
      (globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true;
    });

    // Act
    const sent = await api(live.system, 'POST', '/v1/messages', {
      to: user,
      title: 'Order 1009 shipped',
      body: 'Your parcel left the warehouse.',
      policy: { intervalSeconds: 1 },
    });
    const messageId = sent.json.messageId as string;
    await card(messageId)
      .locator('[data-status="sending"]')
      .waitFor({ timeout: 10_000 });
    await card(messageId)
      .locator('[data-status="acknowledged"]')
      .waitFor({ timeout: 15_000 });

    // Assess
    expect(
      await page.evaluate(
        () => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce
      )
    ).toBe(true);
    const timeline = await card(messageId)
      .locator('.timeline .ev')
      .allTextContents();
    expect(
      timeline.filter((e) => ['accepted', 'pushed', 'acknowledged'].includes(e))
    ).toEqual(['accepted', 'pushed', 'acknowledged']);
    await expect
      .poll(() => card(messageId).locator('.msg-title').textContent())
      .toBe('Order 1009 shipped');
    const phoneRow = page.locator(`[data-registration-id="${rid}"]`);
    await expect
      .poll(() => phoneRow.locator('[data-received]').textContent())
      .toBe('1');
    expect(await phoneRow.textContent()).toContain(user);
    await expect
      .poll(() => page.locator('#activity').textContent())
      .toContain(messageId);
    expect(pageErrors).toEqual([]);
  });

  it('shows an escalation and its SMS as they happen', async () => {
    // Prepare
    const user = newUserId('carol');
    const rid = newRegistrationId();
    await api(live.system, 'PUT', `/local/devices/${rid}`, {
      online: true,
      autoAck: false,
    });
    await api(live.system, 'POST', '/v1/sessions', {
      userId: user,
      registrationId: rid,
      platform: 'android',
    });

    // Act
    const sent = await api(live.system, 'POST', '/v1/messages', {
      to: user,
      title: 'Server down',
      body: 'Database primary unreachable.',
      policy: { intervalSeconds: 1, maxAttempts: 2 },
      escalation: { smsTo: '+8613800000000' },
    });
    const messageId = sent.json.messageId as string;
    await card(messageId)
      .locator('[data-status="escalated"]')
      .waitFor({ timeout: 15_000 });

    // Assess
    await expect
      .poll(() => page.locator('#sms').textContent(), { timeout: 5_000 })
      .toContain('+8613800000000');
    expect(await page.locator('#sms').textContent()).toContain(
      'Server down: Database primary unreachable.'
    );
    await expect
      .poll(() => card(messageId).locator('.timeline').textContent())
      .toContain('SMS sent');
    // Let the entry animations finish, for a screenshot a person can judge.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const shots = await mkdtemp(join(tmpdir(), 'live-page-'));
    const file = join(shots, 'live-page.png');
    await page.screenshot({ path: file, fullPage: true });
    console.log(`live page screenshot: ${file}`);
    expect(pageErrors).toEqual([]);
  });
});
