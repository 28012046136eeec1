// Builds the viewer into ../static/viewer/, served by Django as /static/viewer/reader-viewer.js.
// The entry keeps a fixed name for templates; workers, chunks and codec WASM carry content hashes
// and are found relative to the entry (base './'), so the bundle works under any static URL.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const outDir = fileURLToPath(new URL('../static/viewer', import.meta.url));

export default defineConfig({
  base: './',
  publicDir: false,
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      input: fileURLToPath(new URL('./src/index.js', import.meta.url)),
      preserveEntrySignatures: 'exports-only',
      output: {
        entryFileNames: 'reader-viewer.js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  worker: {
    format: 'es',
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
});
