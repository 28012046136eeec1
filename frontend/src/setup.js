// One-time initialisation of Cornerstone3D core and the DICOM image loader; the tools come later
// (loadTools).
// Every viewer on the page shares it; calling it again is a no-op (the first caller's options win).
import {
  init as coreInit,
  getRenderingCapabilities,
  getWebWorkerManager,
  metaData,
  registerImageLoader,
  RenderingEngine,
} from '@cornerstonejs/core';
import { expose, wrap } from 'comlink';
import { decodeImageFrame } from '../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js';
import { decodeWorker } from './decodeWorker.js';
import { loadImage as loadPart10Image, metaData as part10MetaData } from '@cornerstonejs/dicom-image-loader/wadouri';

let renderer = null;

// 'auto' draws on the CPU where WebGL is missing or is a software rasterizer (SwiftShader, llvmpipe):
// there, Cornerstone's CPU path draws a 2D slice several times faster than emulated WebGL.
function chooseRenderer(rendering) {
  if (rendering === 'cpu' || rendering === 'gpu') return rendering;
  if (rendering !== undefined && rendering !== 'auto') {
    throw new TypeError(`ReaderViewer: rendering must be 'auto', 'gpu' or 'cpu', not ${JSON.stringify(rendering)}`);
  }
  const capabilities = getRenderingCapabilities();
  return !capabilities.webgl || capabilities.softwareRasterizer ? 'cpu' : 'gpu';
}

// The DICOM loader for wadouri: ids (what dicom-image-loader's init() registers, minus its default
// metadata path). init() in 5.14 parses every instance with dcmjs into "naturalized" metadata
// (@cornerstonejs/metadata's default providers), and that path made dcmjs (1.1 MB) part of the
// code evaluated before the first image on every page open. The loader's dicom-parser path
// (its wadouri metadata provider, 30 kB) reads the same attributes from the same bytes: image plane,
// pixel module, VOI and modality LUT. Instances are served same-origin; XHR sends the session cookie
// by default and no request headers are added (nothing beyond the opaque URL reaches the server).
//
// Uncompressed instances (the blinded copies are explicit VR little endian) need no codec: their
// "decoding" is the loader's own post-processing (typed array, min/max, modality LUT scaling).
const INLINE_SYNTAXES = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);

/**
 * What Cornerstone's worker manager talks to (Comlink) for each decode worker: a message port whose
 * other end is served here. Until the worker has started (its first answer), an uncompressed frame is
 * decoded in this thread by the same function the worker runs (the loader's decodeImageFrame); any
 * other frame, and every frame once the worker answers, goes to the worker. In the traces the module
 * worker got going only once the main thread was free (after the bundle had been evaluated), and the
 * first instance, already fetched, waited for it; the image drawn is the same either way.
 */
function decodeEndpoint() {
  const worker = decodeWorker();
  const remote = wrap(worker);
  let workerAnswered = false;
  remote.started.then(() => { workerAnswered = true; }, () => {});
  const { port1, port2 } = new MessageChannel();
  expose({
    decodeTask(args) {
      if (!workerAnswered && INLINE_SYNTAXES.has(args.transferSyntax)) {
        return decodeImageFrame(args.imageFrame, args.transferSyntax, args.pixelData, args.decodeConfig, args.options);
      }
      return remote.decodeTask(args);
    },
  }, port2);
  // The worker manager terminates idle workers through what registerWorker's factory returned.
  port1.terminate = () => {
    worker.terminate();
    port1.close();
    port2.close();
  };
  return port1;
}

function loadInstance(imageId, options) {
  const imageLoadObject = loadPart10Image(imageId, options);
  // This path rejects with { error: <XMLHttpRequest or Error>, dataSet? }; hand on the error itself,
  // as the default path does (the viewer's reportError turns an XMLHttpRequest into an Error).
  imageLoadObject.promise = imageLoadObject.promise.catch((reason) => {
    throw reason && typeof reason === 'object' && !(reason instanceof Error) && 'error' in reason ? reason.error : reason;
  });
  return imageLoadObject;
}

function registerDicomLoader(maxWorkers) {
  registerImageLoader('wadouri', loadInstance);
  registerImageLoader('dicomweb', loadInstance);
  metaData.addProvider(part10MetaData.metaDataProvider);
  getWebWorkerManager().registerWorker('dicomImageLoader', decodeEndpoint, { maxWorkerInstances: maxWorkers });
}

export function ensureInitialised({ maxWebWorkers, rendering } = {}) {
  if (renderer) return renderer;
  renderer = chooseRenderer(rendering);
  // Two WebGL contexts (one per side of a pair) instead of Cornerstone's default seven: browsers
  // allow about sixteen per page and drop the oldest beyond that.
  coreInit({ rendering: { useCPURendering: renderer === 'cpu', webGlContextCount: 2 } });
  registerDicomLoader(maxWebWorkers || Math.min(2, Math.max(1, (navigator.hardwareConcurrency || 2) - 1)));
  return renderer;
}

let toolsPromise = null;

/**
 * The tools chunk (tools.js: @cornerstonejs/tools, initialised, the viewer's tools registered),
 * loaded once per page. Viewers ask for it after their first image is drawn, so the first image
 * never waits for the tools' code to be fetched, parsed and evaluated.
 */
export function loadTools() {
  if (!toolsPromise) {
    toolsPromise = import('./tools.js');
    toolsPromise.catch(() => { toolsPromise = null; }); // a failed fetch may be retried
  }
  return toolsPromise;
}

/** 'gpu' or 'cpu' once the first viewer exists, else null. */
export function getRenderer() {
  return renderer;
}

let sharedEngine = null;

/**
 * The page's one rendering engine; every viewer is a viewport in it. Separate engines would each
 * hold their own pool of WebGL contexts, and a page that opens read after read would run out.
 */
export function getRenderingEngine() {
  if (!sharedEngine || sharedEngine.hasBeenDestroyed) {
    sharedEngine = new RenderingEngine('reader-viewer');
  }
  return sharedEngine;
}
