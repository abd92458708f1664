import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Client routes avoid /api, /admin and /runtime: the devhost keeps those prefixes for itself.
// The devhost (python -m devhost) serves the API on 127.0.0.1:7071; `npm run dev`
// proxies /api and the development-only /admin/dev endpoints to it.
const backend = process.env.HALYARD_API_URL ?? 'http://127.0.0.1:7071';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: true, chunkSizeWarningLimit: 800 },
  server: {
    proxy: { '/api': backend, '/admin/dev': backend },
  },
  preview: {
    proxy: { '/api': backend, '/admin/dev': backend },
  },
});
