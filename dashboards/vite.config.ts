/// <reference types="vitest/config" />
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Two entry points: the physician portal at `/` and the patient portal at `/patient/`.
// Built assets land in `dist/assets/` with content hashes (served `immutable` by the server).
const server = process.env.MEDILINK_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    rollupOptions: {
      input: {
        physician: resolve(import.meta.dirname, 'index.html'),
        patient: resolve(import.meta.dirname, 'patient/index.html'),
      },
    },
  },
  server: {
    // `ws`: the FHIR subscription websocket (`/fhir/R4/$subscription-ws`, live updates).
    proxy: { '/api': server, '/fhir': { target: server, ws: true }, '/health': server },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
