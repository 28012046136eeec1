// Builds one page script (no Cornerstone in it) from src/<dir>/<name>.js into ../static/<dir>/<name>.js,
// beside the page's CSS, under the fixed name the templates load. PAGE is "<dir>/<name>" (or just
// "<dir>" for src/<dir>/<dir>.js). The shared fetch + CSRF helper (src/shared/http.js) is bundled into
// each; the viewer bundle is built by vite.config.js.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const [dir, name = dir] = (process.env.PAGE || 'reading').split('/');
const outDir = fileURLToPath(new URL(`../static/${dir}`, import.meta.url));

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
      input: fileURLToPath(new URL(`./src/${dir}/${name}.js`, import.meta.url)),
      preserveEntrySignatures: false,
      output: { entryFileNames: `${name}.js`, format: 'es' },
    },
  },
});
