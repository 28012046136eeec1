// Builds the pages' own scripts (no Cornerstone in them) into ../static/<page>/<page>.js, beside
// their CSS, under fixed names for the templates. The shared fetch + CSRF helper (src/shared/http.js)
// is bundled into each; the viewer bundle is built by vite.config.js.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const page = process.env.PAGE || 'reading';
const outDir = fileURLToPath(new URL(`../static/${page}`, import.meta.url));

export default defineConfig({
  base: './',
  publicDir: false,
  build: {
    outDir,
    emptyOutDir: false, // the page's CSS lives there too
    target: 'es2022',
    sourcemap: false,
    minify: false, // small, and readable in the browser's debugger
    rollupOptions: {
      input: fileURLToPath(new URL(`./src/${page}/${page}.js`, import.meta.url)),
      preserveEntrySignatures: false,
      output: { entryFileNames: `${page}.js`, format: 'es' },
    },
  },
});
