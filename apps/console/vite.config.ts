import { defaultClientConditions, defineConfig } from 'vite';

// Served by the gateway at /console (CONSOLE_DIR) and deployable as static files; another path:
// `vite build --base=/elsewhere/` (or `--base=./` for relative asset URLs).
export default defineConfig({
  base: '/console/',
  // Our workspace packages export their TypeScript sources under `development`: the console builds from the
  // SDK's sources (the same code as its dist), so it needs no prior build of @glavito/client or
  // @glavito/contracts (a fresh clone's `pnpm start` builds the console on its own).
  resolve: { conditions: ['development', ...defaultClientConditions] },
  // The dev server runs on its own origin (http://127.0.0.1:5173): the gateway must allow it (FRONTEND_URL).
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or styles (the gateway's CSP allows only 'self'), and no data: URLs for assets.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
