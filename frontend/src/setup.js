// One-time initialisation of Cornerstone3D core, tools and the DICOM image loader.
// Every viewer on the page shares it; calling it again is a no-op.
import { init as coreInit } from '@cornerstonejs/core';
import {
  init as toolsInit,
  addTool,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  PanTool,
  EllipticalROITool,
} from '@cornerstonejs/tools';
import { init as dicomImageLoaderInit } from '@cornerstonejs/dicom-image-loader';

let initialised = null;

export function ensureInitialised({ maxWebWorkers } = {}) {
  if (initialised) return initialised;
  coreInit();
  dicomImageLoaderInit({
    // Instances are served same-origin; XHR sends the session cookie by default,
    // and the loader must not add headers that would turn it into a CORS preflight.
    maxWebWorkers: maxWebWorkers || Math.min(2, Math.max(1, (navigator.hardwareConcurrency || 2) - 1)),
  });
  toolsInit();
  for (const tool of [StackScrollTool, WindowLevelTool, ZoomTool, PanTool, EllipticalROITool]) {
    addTool(tool);
  }
  initialised = true;
  return initialised;
}
