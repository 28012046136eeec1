// A case read with a hanging protocol: every sequence of one case (one arm) in its own pane, with
// Cornerstone's cross-reference lines (ReferenceLinesTool) of the active pane's slice on the others,
// and the library's image-slice synchronizer scrolling panes of one plane together by position.
//
// Geometry: blinded series carry new frame-of-reference UIDs, but their ImagePositionPatient and
// ImageOrientationPatient are the scanner's, in the patient's coordinates, shared by the sequences
// of one examination (and the same in every arm). So panes are registered to each other with the
// identity (positions compare directly), not by the library's guess from the current slices.
import { Enums as csEnums, utilities as csUtils } from '@cornerstonejs/core';
import { createStackViewer } from './stackViewer.js';
import { loadTools } from './setup.js';

// Cross-reference lines and the slice synchronizers come with the tools chunk, once every pane
// shows its first image (stackViewer.js); the active pane is chosen before and applied then.

let caseCounter = 0;
// gl-matrix's identity mat4 (column-major): the panes' positions compare directly.
const IDENTITY = () => new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);

function normalOf(viewer) {
  const camera = viewer._viewport.getCamera();
  return camera && camera.viewPlaneNormal ? Array.from(camera.viewPlaneNormal) : null;
}
function parallel(a, b) {
  if (!a || !b) return false;
  const d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  return Math.abs(Math.abs(d) - 1) < 1e-3;
}

/**
 * @param {HTMLElement[]} elements  one sized element per pane
 * @param {object} options  panes: [{imageIds, label}] (same order as elements), and any
 *                          createStackViewer option (shared; callbacks get the pane index last)
 */
export function createCaseViewer(elements, options = {}) {
  const { panes = [], ...shared } = options;
  if (!Array.isArray(elements) || elements.length !== panes.length || !panes.length) {
    throw new TypeError('ReaderViewer.createCaseViewer: one element per pane is needed');
  }
  const viewers = [];
  // The tools chunk is evaluated once every pane shows its first image, not between them.
  let openToolsGate;
  const toolsGate = new Promise((resolve) => { openToolsGate = resolve; });
  try {
    panes.forEach((pane, i) => {
      const wrap = (fn) => (fn ? (...args) => fn(...args, i) : undefined);
      viewers.push(createStackViewer(elements[i], {
        ...shared,
        imageIds: pane.imageIds,
        label: pane.label,
        initialIndex: pane.initialIndex ?? Math.floor((pane.imageIds.length - 1) / 2),
        referenceLines: true,
        _toolsGate: toolsGate,
        onSliceChange: wrap(shared.onSliceChange),
        onVoiChange: wrap(shared.onVoiChange),
        onRoi: wrap(shared.onRoi),
        onMeasurement: wrap(shared.onMeasurement),
        onProgress: wrap(shared.onProgress),
        onError: wrap(shared.onError),
      }));
    });
  } catch (error) {
    viewers.forEach((v) => v.destroy());
    throw error;
  }
  const id = `rv-case${++caseCounter}`;
  const sliceSyncs = [];
  let active = 0;
  let T = null; // the tools module, once every pane has its tools
  let destroyed = false;

  let announced = null; // the source pane's slice the lines were drawn for
  function setActive(index) {
    active = Math.max(0, Math.min(viewers.length - 1, index));
    announced = viewers[active].getIndex();
    const sourceViewportId = viewers[active]._viewportId;
    for (const viewer of viewers) {
      if (T) viewer._toolGroup.setToolConfiguration(T.ReferenceLinesTool.toolName, { sourceViewportId });
      viewer.element.classList.toggle('rv-active', viewer === viewers[active]);
    }
    renderAll();
  }
  function renderAll() {
    for (const viewer of viewers) viewer._viewport.render();
  }
  // The pane the reader works in is the source of the lines on the others.
  viewers.forEach((viewer, i) => {
    viewer.element.addEventListener('pointerdown', () => { if (active !== i) setActive(i); });
    viewer.element.addEventListener('focusin', () => { if (active !== i) setActive(i); });
    // A new slice anywhere moves the lines. The tool takes the source's plane when it is configured
    // (a stack's new slice does not count as a camera change), so once the source has drawn a new
    // slice it is announced again; a target's new slice just redraws.
    viewer.element.addEventListener('readerviewer:slice', () => { if (active !== i) renderAll(); });
    viewer._viewport.element.addEventListener(csEnums.Events.IMAGE_RENDERED, () => {
      if (active !== i) return;
      const index = viewer.getIndex();
      if (index !== announced) setActive(i);
    });
  });

  const api = {
    viewers,
    ready: null,
    toolsReady: null,
    loaded: null,
    getActive: () => active,
    setActive,
    activeViewer: () => viewers[active],
    setIndex: (index) => viewers[active].setIndex(index),
    scroll: (delta) => viewers[active].scroll(delta),
    setPreset: (name) => viewers.forEach((v) => v.setPreset(name)),
    setWindow: (c, w) => viewers[active].setWindow(c, w),
    invert: (on) => {
      const next = on === undefined ? !viewers[active].getState().invert : !!on;
      viewers.forEach((v) => v.invert(next));
      return next;
    },
    reset: () => viewers.forEach((v) => v.reset()),
    fit: () => viewers[active].fit(),
    actualSize: () => viewers[active].actualSize(),
    cine: (on, fps) => viewers[active].cine(on, fps),
    setTool: (name) => viewers.forEach((v) => v.setTool(name)),
    getState: () => ({ active, panes: viewers.map((v) => v.getState()) }),
    destroy: () => {
      destroyed = true;
      for (const s of sliceSyncs) T.SynchronizerManager.destroySynchronizer(s.id);
      viewers.forEach((v) => v.destroy());
    },
  };
  Promise.allSettled(viewers.map((v) => v.ready)).then(() => openToolsGate());
  api.ready = Promise.all(viewers.map((v) => v.ready)).then(() => {
    setActive(0);
    return api;
  });
  // loadTools only once the gate is open: calling it here would fetch and evaluate the tools chunk
  // while the panes' first images are still being loaded and drawn.
  api.toolsReady = Promise.all([api.ready, ...viewers.map((v) => v.toolsReady), toolsGate.then(loadTools)]).then((all) => {
    if (destroyed) return api;
    T = all[all.length - 1];
    const { synchronizers } = T;
    // Panes of one plane scroll together by position (the library's image-slice synchronizer).
    const groups = [];
    for (const viewer of viewers) {
      const normal = normalOf(viewer);
      const group = groups.find((g) => parallel(g.normal, normal));
      if (group) group.viewers.push(viewer);
      else groups.push({ normal, viewers: [viewer] });
    }
    groups.filter((g) => g.viewers.length > 1).forEach((group, g) => {
      const sync = synchronizers.createImageSliceSynchronizer(`${id}-slice${g}`);
      for (const a of group.viewers) {
        for (const b of group.viewers) {
          if (a !== b) csUtils.spatialRegistrationMetadataProvider.add([a._viewportId, b._viewportId], IDENTITY());
        }
      }
      for (const viewer of group.viewers) sync.add({ renderingEngineId: viewer._engineId, viewportId: viewer._viewportId });
      sliceSyncs.push(sync);
    });
    setActive(active); // the lines from the active pane
    return api;
  });
  api.toolsReady.catch(() => {});
  api.loaded = Promise.all([api.ready, api.toolsReady.catch(() => {}), ...viewers.map((v) => v.loaded)]).then(() => api);
  api.loaded.catch(() => {});
  return api;
}
