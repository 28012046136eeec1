// The DICOM loader's decode worker (a module worker: the loader's decodeImageFrameWorker.js, built
// by Vite into assets/). One is started as soon as the bundle begins to evaluate: this module has
// no imports and sits in its own chunk, which the entry imports first, so it runs before Cornerstone
// and vtk.js are evaluated and the worker's start overlaps them. Without it the worker started with
// the first viewer and the first instance, already fetched, waited for it.
function spawn() {
  return new Worker(
    new URL('../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js', import.meta.url),
    { type: 'module' },
  );
}

let started = null;
if (typeof window !== 'undefined' && typeof Worker !== 'undefined') {
  try {
    started = spawn();
  } catch (error) {
    started = null; // the loader starts its workers itself when asked
  }
}

/** The worker factory for Cornerstone's worker manager: the one already started, then new ones. */
export function decodeWorker() {
  if (started) {
    const worker = started;
    started = null;
    return worker;
  }
  return spawn();
}
