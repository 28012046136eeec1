// Builds the viewer into ../static/viewer/, served by Django as /static/viewer/reader-viewer.js.
// The entry keeps a fixed name for templates; workers, chunks and codec WASM carry content hashes
// and are found relative to the entry (base './'), so the bundle works under any static URL.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const outDir = fileURLToPath(new URL('../static/viewer', import.meta.url));

// Code the reading viewer never runs but Cornerstone's barrel imports pull in. Each stub throws if
// it is ever called, so a future use fails loudly instead of silently.
//  - tools' compute worker (segmentation statistics, contour generation): 2.8 MB of worker code;
//  - xmlbuilder2 (and its DOM/YAML dependencies), used only by vtk.js's VTK-XML reader/writer,
//    reached from surface meshes and the orientation marker tool: about 1 MB;
//  - vtk.js's WebGPU rendering back end (the viewer uses WebGL or the CPU).
const STUBS = [
  {
    test: (id) => /@cornerstonejs[\\/]tools[\\/]dist[\\/]esm[\\/]workers[\\/]computeWorker\.js$/.test(id),
    code: "self.onmessage = () => { throw new Error('ReaderViewer: the compute worker is not bundled'); };",
  },
  {
    // vtk.js's WebGPU back end (about 210 kB minified), registered by side-effect imports only: the
    // viewer draws with WebGL or on the CPU. An empty module; a named import of it fails the build.
    test: (id) => /@kitware[\\/]vtk\.js[\\/]Rendering[\\/]WebGPU[\\/]/.test(id),
    code: '',
  },
  {
    test: (id) => id === 'xmlbuilder2',
    code: "export function create() { throw new Error('ReaderViewer: xmlbuilder2 is not bundled'); }",
  },
];

function stubUnused() {
  return {
    name: 'reader-viewer-stub-unused',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (STUBS.some((s) => s.test(source))) return `\0stub:${source}`;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (resolved && STUBS.some((s) => s.test(resolved.id.split('?')[0]))) {
        return `\0stub:${resolved.id.split('?')[0]}`;
      }
      return null;
    },
    load(id) {
      if (!id.startsWith('\0stub:')) return null;
      const target = id.slice('\0stub:'.length);
      return STUBS.find((s) => s.test(target)).code;
    },
  };
}

export default defineConfig({
  base: './',
  publicDir: false,
  plugins: [stubUnused()],
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
    plugins: () => [stubUnused()],
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
});
