/**
 * Once per e2e run: the real devhost (temp data dir, timers at 60x, paper trading the
 * demo at once) and the dashboard served from web/dist in front of it.
 */
import type { TestProject } from 'vitest/node';
import { startDevhost } from './devhost';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
    apiUrl: string;
    dataDir: string;
  }
}

/** The devhost serves web/dist at "/" (client routes fall back to index.html) and the dev sign-in. */
async function checkDashboard(url: string): Promise<void> {
  const page = await fetch(`${url}/markets`);
  const html = await page.text();
  if (!page.ok || !html.includes('id="root"')) {
    throw new Error(`the devhost does not serve the built dashboard at ${url}/markets: run \`npm run build\` in web/ first`);
  }
  const users = await fetch(`${url}/admin/dev/users`);
  if (!users.ok) throw new Error(`the devhost offers no development sign-in (GET /admin/dev/users answered ${users.status})`);
}

export default async function setup(project: TestProject) {
  const devhost = await startDevhost({ timerSpeed: 60 });
  try {
    await checkDashboard(devhost.url);
  } catch (error) {
    await devhost.stop();
    throw error;
  }
  project.provide('baseUrl', devhost.url);
  project.provide('apiUrl', devhost.url);
  project.provide('dataDir', devhost.dataDir);
  console.log(`e2e: devhost ${devhost.url} (data ${devhost.dataDir})`);
  return async () => {
    await devhost.stop();
  };
}
