/**
 * Starts the REAL devhost (`python -m devhost serve`) on a free port with a temporary
 * data directory, as the acceptance tests require, and mints dev tokens for it.
 */
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
export const PYTHON = process.env.HALYARD_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Devhost {
  url: string;
  port: number;
  dataDir: string;
  logFile: string;
  stop: () => Promise<void>;
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the devhost exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/api/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the devhost did not answer /api/health within ${timeoutMs} ms`);
}

export async function startDevhost(options: { timerSpeed?: number; environment?: string } = {}): Promise<Devhost> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'halyard-e2e-'));
  const logFile = path.join(dataDir, 'devhost.log');
  const log = openSync(logFile, 'a');
  const child = spawn(PYTHON, ['-m', 'devhost', 'serve', '--port', String(port), '--data-dir', dataDir,
    '--timer-speed', String(options.timerSpeed ?? 60)], {
    cwd: REPO_ROOT,
    env: { ...process.env, HALYARD_ENVIRONMENT: options.environment ?? 'development' },
    stdio: ['ignore', log, log],
    detached: true,
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } resolve(); }, 5000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
      });
    }
    if (!process.env.HALYARD_E2E_KEEP) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForHealth(url, child, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port, dataDir, logFile, stop };
}

/** A dev token from the CLI (`python -m devhost token`), minted against the devhost's data dir. */
export async function mintToken(dataDir: string, user: string, tenant: string, roles: string[], ttlSeconds = 3600): Promise<string> {
  const args = ['-m', 'devhost', 'token', '--user', user, '--tenant', tenant, '--data-dir', dataDir, '--ttl', String(ttlSeconds)];
  for (const role of roles) args.push('--role', role);
  const { stdout } = await run(PYTHON, args, { cwd: REPO_ROOT });
  return stdout.trim();
}
