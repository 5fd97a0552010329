import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium package; .ci/run installs it when it is missing. */
const CHROMIUM = process.env.OAP_CHROMIUM ?? '/usr/bin/chromium';

export const chromiumMissing = (): string | undefined => (existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`);

export interface BrowserSession {
  page: Page;
  context: BrowserContext;
  /** Every URL the page asked for that is not on the proxy: a test fails when this is not empty. */
  foreignRequests: string[];
  /** Errors the page's scripts threw or logged. */
  pageErrors: string[];
  close(): Promise<void>;
}

/**
 * A real headless Chromium page in front of the proxy at `origin`. Requests to any other origin are refused
 * (and listed), so a page that reaches for a CDN or anything on the internet fails its test instead of working
 * here and breaking where the proxy has no internet.
 */
export async function openBrowser(origin: string, opts: { width: number; height: number; timezoneId?: string; downloads?: boolean }): Promise<BrowserSession> {
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    const context = await browser.newContext({
      viewport: { width: opts.width, height: opts.height },
      timezoneId: opts.timezoneId ?? 'UTC',
      locale: 'en-US',
      acceptDownloads: opts.downloads ?? true,
    });
    const foreignRequests: string[] = [];
    const pageErrors: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${origin}/`) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      foreignRequests.push(url);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    return { page, context, foreignRequests, pageErrors, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
