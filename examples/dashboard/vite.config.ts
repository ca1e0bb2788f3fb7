/// <reference types="vitest/config" />
// Vite build for the dashboard. `--mode bench` builds the page-level benchmark harness
// (bench.html) into dist-bench/ so the shipped dist/ holds only the dashboard.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';

export default defineConfig(({ mode }) => ({
  plugins: [react()],
  // Relative asset URLs: the reference server may mount the dashboard under any path.
  base: './',
  build: {
    outDir: mode === 'bench' ? 'dist-bench' : 'dist',
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: (mode === 'bench'
        ? { bench: resolve(__dirname, 'bench.html') }
        : { index: resolve(__dirname, 'index.html') }) as Record<string, string>,
    },
  },
  server: {
    // `npm run dev` talks to a reference server on :8000 unless VEHICLEOPS_SERVER says otherwise.
    proxy: {
      '/api': process.env.VEHICLEOPS_SERVER ?? 'http://127.0.0.1:8000',
      '/ws': { target: process.env.VEHICLEOPS_SERVER ?? 'http://127.0.0.1:8000', ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
}));
