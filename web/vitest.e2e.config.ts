import { createRequire } from 'node:module';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// The e2e tests live in ../tests/e2e; their packages come from this folder's node_modules.
const require = createRequire(import.meta.url);
const e2eDir = path.resolve(import.meta.dirname, '..', 'tests', 'e2e');

export default defineConfig({
  root: e2eDir,
  cacheDir: path.join(import.meta.dirname, 'node_modules', '.vite-e2e'),
  resolve: {
    alias: {
      'playwright-core': require.resolve('playwright-core'),
    },
  },
  server: { fs: { allow: [e2eDir, import.meta.dirname] } },
  test: {
    root: e2eDir,
    include: ['**/*.e2e.ts'],
    environment: 'node',
    globalSetup: [path.join(e2eDir, 'support', 'globalSetup.ts')],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
