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
  WindowLevelRegionTool,
  ReferenceLinesTool,
  annotation,
  utilities,
  store,
  state,
} from '@cornerstonejs/tools';

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
