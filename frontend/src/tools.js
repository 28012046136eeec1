// Everything the viewer takes from @cornerstonejs/tools (about 0.9 MB), in its own chunk: the
// entry imports it dynamically (setup.js loadTools()) once the first image is on screen, so
// evaluating the tools never delays the first image. Nothing here runs before that import.
import {
  init as toolsInit,
  addTool,
  ToolGroupManager,
  SynchronizerManager,
  synchronizers,
  Enums,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  PanTool,
  EllipticalROITool,
  LengthTool,
  AngleTool,
  WindowLevelRegionTool as LibraryWindowLevelRegionTool,
  ReferenceLinesTool,
  annotation,
  utilities,
  store,
  state,
} from '@cornerstonejs/tools';
import { getEnabledElement, utilities as csUtils } from '@cornerstonejs/core';

/**
 * Auto-window on a region: the library's tool (drawing, interaction, name), with the region read
 * where the reader drew it. In 5.14 the library takes the rectangle's canvas coordinates as image
 * pixel indices, so unless the image sits 1:1 at the canvas origin it windows on other pixels
 * (a fitted 384² image in a 512 px pane: the wrong part of the image). Here the rectangle's
 * corners go through the image's world-to-index transform, and the window is the library's rule on
 * the pixels whose centres lie inside: width max − min (at least minWindowWidth), centre the mean.
 */
class WindowLevelRegionTool extends LibraryWindowLevelRegionTool {
  constructor(...args) {
    super(...args);
    const libraryApply = this.applyWindowLevelRegion;
    this.applyWindowLevelRegion = (annotation, element) => {
      const { viewport } = getEnabledElement(element) || {};
      const image = viewport && viewport.getImageData ? viewport.getImageData() : null;
      const scalars = image && image.scalarData;
      if (!image || !scalars || !image.origin || !image.direction || !image.spacing) {
        libraryApply(annotation, element);
        return;
      }
      const [columns, rows] = image.dimensions;
      // Index coordinates from the image geometry itself (origin: the centre of the first pixel;
      // direction: row, column, normal), the same on the GPU and the CPU path: the CPU path's
      // worldToIndex counts from the pixel's edge, vtk's from its centre.
      const { origin, direction, spacing } = image;
      const toIndex = (p) => {
        const d = [p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]];
        return [
          (d[0] * direction[0] + d[1] * direction[1] + d[2] * direction[2]) / spacing[0],
          (d[0] * direction[3] + d[1] * direction[4] + d[2] * direction[5]) / spacing[1],
        ];
      };
      const corners = annotation.data.handles.points.map(toIndex);
      const is = corners.map((c) => c[0]);
      const js = corners.map((c) => c[1]);
      const clamp = (v, n) => Math.min(n - 1, Math.max(0, v));
      let i0 = clamp(Math.ceil(Math.min(...is)), columns);
      let i1 = clamp(Math.floor(Math.max(...is)), columns);
      let j0 = clamp(Math.ceil(Math.min(...js)), rows);
      let j1 = clamp(Math.floor(Math.max(...js)), rows);
      if (i1 < i0) i0 = i1 = clamp(Math.round((Math.min(...is) + Math.max(...is)) / 2), columns);
      if (j1 < j0) j0 = j1 = clamp(Math.round((Math.min(...js) + Math.max(...js)) / 2), rows);
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      let n = 0;
      for (let j = j0; j <= j1; j++) {
        for (let i = i0; i <= i1; i++) {
          const v = scalars[j * columns + i];
          if (v < min) min = v;
          if (v > max) max = v;
          sum += v;
          n += 1;
        }
      }
      const minWidth = this.configuration.minWindowWidth ?? 10;
      const windowWidth = Math.max(max - min, minWidth);
      const windowCenter = sum / n;
      viewport.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(windowWidth, windowCenter) });
      viewport.render();
    };
  }
}

toolsInit();
// No probe tool: it would show raw stored values, which differ between arms (blinding).
for (const tool of [StackScrollTool, WindowLevelTool, ZoomTool, PanTool, EllipticalROITool, LengthTool, AngleTool,
  WindowLevelRegionTool, ReferenceLinesTool]) {
  addTool(tool);
}

/**
 * Gives a viewport element that was enabled before the tools existed what the tools' init would
 * have given it on ELEMENT_ENABLED (the SVG annotation layer, mouse, wheel and key listeners).
 * Elements enabled after this module ran got them from that event already.
 */
export function adoptElement({ element, viewportId, renderingEngineId }) {
  if (state.enabledElements.includes(element)) return;
  store.addEnabledElement({ detail: { element, viewportId, renderingEngineId } });
}

export {
  ToolGroupManager,
  SynchronizerManager,
  synchronizers,
  Enums,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  PanTool,
  EllipticalROITool,
  LengthTool,
  AngleTool,
  WindowLevelRegionTool,
  ReferenceLinesTool,
  annotation,
  utilities,
};
