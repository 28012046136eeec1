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

// The decode worker imports every codec's Emscripten glue statically (JPEG-LS, JPEG baseline,
// JPEG 2000, HTJ2K, JPEG XL), so starting a worker parsed and evaluated them all, although the
// blinded instances are uncompressed (explicit VR little endian) and need none. Each glue module
// becomes a chunk imported when its decoder first initialises: the factory is called exactly once,
// inside the decoder's initialize(), and returns a promise either way.
const CODEC_IMPORT = /^import\s+(\w+)(?:\s*,\s*\{\s*\})?\s+from\s+'(@cornerstonejs\/codec-[\w-]+\/[\w]+)';$/m;

function lazyCodecs() {
  return {
    name: 'reader-viewer-lazy-codecs',
    transform(code, id) {
      if (!/@cornerstonejs[\\/]dicom-image-loader[\\/]dist[\\/]esm[\\/]shared[\\/]decoders[\\/]decode\w+\.js$/.test(id)) return null;
      const match = code.match(CODEC_IMPORT);
      if (!match) return null;
      const [statement, name, source] = match;
      const lazy = `const ${name} = (options) => import('${source}').then((m) => m.default(options));`;
      return { code: code.replace(statement, lazy), map: null };
    },
  };
}

// '@cornerstonejs/metadata' as the viewer entry's Cornerstone uses it: src/metadataLite.js (see
// there), which keeps dcmjs and the display-set rules out of the bundle. The shim itself reaches
// the package's files by path, so only imports by package name are redirected.
const METADATA_LITE = fileURLToPath(new URL('./src/metadataLite.js', import.meta.url));
function metadataLite() {
  return {
    name: 'reader-viewer-metadata-lite',
    enforce: 'pre',
    resolveId(source) {
      return source === '@cornerstonejs/metadata' ? METADATA_LITE : null;
    },
  };
}

// dcmjs (1.1 MB, with the DICOM dictionary) stayed in the entry for two small reads once the metadata
// shim above is in place: @cornerstonejs/utils's logging takes dcmjs's `log` (loglevel 1.9.2, set to
// "warn" at load), and the metadata package's transfer-syntax enum takes four UIDs from `constants`.
// dcmjs's top level has side effects, so either import kept all of it. 'dcmjs' resolves here to a
// module with exactly those two exports: the same loglevel (the npm package dcmjs bundles, pinned
// at the same version in the lockfile) set to "warn" as dcmjs does, and the four standard UIDs
// (PS3.5 Annex A) as dcmjs defines them. An import of anything else from dcmjs fails the build.
const DCMJS_LITE = `import log from 'loglevel';
log.setLevel('warn');
export { log };
export const constants = Object.freeze({
  IMPLICIT_LITTLE_ENDIAN: '1.2.840.10008.1.2',
  EXPLICIT_LITTLE_ENDIAN: '1.2.840.10008.1.2.1',
  DEFLATED_EXPLICIT_LITTLE_ENDIAN: '1.2.840.10008.1.2.1.99',
  EXPLICIT_BIG_ENDIAN: '1.2.840.10008.1.2.2',
});`;
function dcmjsLite() {
  return {
    name: 'reader-viewer-dcmjs-lite',
    enforce: 'pre',
    resolveId(source) {
      return source === 'dcmjs' ? '\0dcmjs-lite' : null;
    },
    load(id) {
      return id === '\0dcmjs-lite' ? DCMJS_LITE : null;
    },
  };
}

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

// The libraries the first image needs, as two chunks the entry imports statically: Cornerstone
// (core, the DICOM loader, the metadata shim) and vtk.js with the other dependencies. The browser
// fetches both as soon as it has parsed the 25 kB entry and parses them in parallel, each on its
// own background thread, where one 1.75 MB entry was parsed on one. Only modules the entry reaches
// through static imports are placed: what only the tools (a dynamic import) use stays in their chunk.
const ENTRY = fileURLToPath(new URL('./src/index.js', import.meta.url));
// src/decodeWorker.js in a chunk of its own, imported first by the entry: it starts the decode
// worker before the libraries are evaluated (code in the entry chunk would run after them).
const DECODE_WORKER = fileURLToPath(new URL('./src/decodeWorker.js', import.meta.url));
let eagerModules = null;
function vendorChunks(id, { getModuleInfo }) {
  if (!eagerModules) {
    eagerModules = new Set();
    const stack = [ENTRY];
    while (stack.length) {
      const m = stack.pop();
      if (eagerModules.has(m)) continue;
      eagerModules.add(m);
      const info = getModuleInfo(m);
      if (info) stack.push(...info.importedIds);
    }
  }
  if (id === DECODE_WORKER) return 'decode-worker';
  if (!eagerModules.has(id) || !/node_modules[\\/]/.test(id)) return undefined;
  return /node_modules[\\/]@cornerstonejs[\\/]/.test(id) ? 'cornerstone' : 'vtk';
}

export default defineConfig({
  base: './',
  publicDir: false,
  plugins: [stubUnused(), metadataLite(), dcmjsLite(), lazyCodecs()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      input: fileURLToPath(new URL('./src/index.js', import.meta.url)),
      // The entry keeps the code every read needs; the tools chunk imports from it.
      preserveEntrySignatures: 'allow-extension',
      output: {
        entryFileNames: 'reader-viewer.js',
        chunkFileNames: 'assets/[name]-[hash].js',
        manualChunks: vendorChunks,
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  worker: {
    format: 'es',
    plugins: () => [stubUnused(), lazyCodecs()],
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
});
