// Two stack viewers for a paired read. Window/level (and invert) and zoom/pan follow each other
// through Cornerstone's own synchronizers: VOI, and the camera-position synchronizer, which copies
// the world camera (all arms of a case × sequence share one geometry, DESIGN.md). Its zoom/pan
// synchronizer is not used: it copies zoom/pan relative to each viewport's own reference camera,
// which left the right pane offset by half an image here (the "(−9.5, −7.1) mm"). The
// slice follows by index, because
// blinded series carry new, unrelated frames of reference, so the library's position-based slice
// synchronizer has nothing to match on. The page decides which series goes left and right
// (randomised and recorded by the server); this module never learns which arm is which.
// The synchronizers come with the tools chunk, after both first images (stackViewer.js).
import { createStackViewer } from './stackViewer.js';
import { loadTools } from './setup.js';

let pairCounter = 0;

function mapIndex(index, fromCount, toCount) {
  if (fromCount === toCount || fromCount <= 1) return Math.min(index, toCount - 1);
  return Math.round((index * (toCount - 1)) / (fromCount - 1));
}

const viewportInfo = (viewer) => ({ renderingEngineId: viewer._engineId, viewportId: viewer._viewportId });

/**
 * @param {HTMLElement} leftEl
 * @param {HTMLElement} rightEl
 * @param {object} options  leftIds, rightIds, syncCamera (default true), labels ({left, right}), and
 *                          any createStackViewer option; callbacks receive the side ('left' | 'right')
 *                          as last argument.
 */
export function createSideBySide(leftEl, rightEl, options = {}) {
  const { leftIds, rightIds, syncCamera = true, labels = {}, ...shared } = options;
  const sideOptions = (side, imageIds) => {
    const wrap = (fn) => (fn ? (...args) => fn(...args, side) : undefined);
    return {
      ...shared,
      imageIds,
      label: labels[side] ?? shared.label,
      onSliceChange: wrap(shared.onSliceChange),
      onVoiChange: wrap(shared.onVoiChange),
      onRoi: wrap(shared.onRoi),
      onRoiRemoved: wrap(shared.onRoiRemoved),
      onMeasurement: wrap(shared.onMeasurement),
      onProgress: wrap(shared.onProgress),
      onError: wrap(shared.onError),
    };
  };
  // The tools chunk is evaluated once both sides show their first image, not between them.
  let openToolsGate;
  const toolsGate = new Promise((resolve) => { openToolsGate = resolve; });
  shared._toolsGate = toolsGate;
  const left = createStackViewer(leftEl, sideOptions('left', leftIds));
  let right;
  try {
    right = createStackViewer(rightEl, sideOptions('right', rightIds));
  } catch (error) {
    left.destroy();
    throw error;
  }

  const id = `rv-pair${++pairCounter}`;
  const libSyncs = []; // the library's synchronizers, once the tools are loaded
  let SyncManager = null;
  let destroyed = false;
  const setLibSync = (enabled) => libSyncs.forEach((s) => s.setEnabled(enabled));

  // Nothing is linked until both series show their first image.
  let linked = false;
  // One slice change at a time: a change made by the sync must not echo back to its source.
  let syncing = false;
  function linkSlices(src, dst) {
    src._sync.slice.push((index, count) => {
      if (syncing || !linked) return;
      syncing = true;
      try {
        dst._setIndexQuietly(mapIndex(index, count, dst.getState().count));
      } finally {
        syncing = false;
      }
    });
  }
  linkSlices(left, right);
  linkSlices(right, left);

  // Both sides to one state: each fitted by the same rule (zoom to fit, centred), the left side's
  // window on both. Used on load and by Reset, so the two panes always start out comparable.
  function alignToLeft() {
    setLibSync(false);
    try {
      left.fit();
      right.fit();
      const s = left.getState();
      if (s.windowWidth != null) right.setWindow(s.windowCenter, s.windowWidth);
      right.invert(s.invert);
      if (syncCamera) right.setCamera(left.getCamera()); // the world camera
    } finally {
      setLibSync(true);
    }
  }

  const both = (fn) => {
    setLibSync(false);
    syncing = true;
    try {
      fn(left);
      fn(right);
    } finally {
      syncing = false;
      setLibSync(true);
    }
  };
  const api = {
    left,
    right,
    ready: null,
    toolsReady: null,
    loaded: null,
    setIndex: (index) => left.setIndex(index),
    scroll: (delta) => left.scroll(delta),
    setPreset: (name) => both((v) => v.setPreset(name)),
    setWindow: (c, w) => both((v) => v.setWindow(c, w)),
    invert: (on) => {
      const next = on === undefined ? !left.getState().invert : !!on;
      both((v) => v.invert(next));
      return next;
    },
    reset: () => {
      both((v) => v.reset());
      alignToLeft();
    },
    fit: () => {
      left.fit(); // the zoom/pan synchronizer brings the right side along
    },
    actualSize: () => {
      left.actualSize();
    },
    cine: (on, fps) => {
      const next = left.cine(on, fps); // the right side follows the slice by index
      return next;
    },
    setTool: (name) => both((v) => v.setTool(name)),
    getState: () => ({ left: left.getState(), right: right.getState() }),
    destroy: () => {
      destroyed = true;
      for (const s of libSyncs) SyncManager.destroySynchronizer(s.id);
      both((v) => v.destroy());
    },
  };
  Promise.allSettled([left.ready, right.ready]).then(() => openToolsGate());
  api.ready = Promise.all([left.ready, right.ready]).then(() => {
    const s = left.getState();
    right._setIndexQuietly(mapIndex(s.index, s.count, right.getState().count));
    if (!shared.initialPreset) alignToLeft();
    else {
      setLibSync(false);
      left.fit();
      right.fit();
      setLibSync(true);
    }
    linked = true;
    return api;
  });
  // Window/level, invert and the world camera follow each other through the library's
  // synchronizers once both sides have their tools.
  // loadTools only once the gate is open: calling it here would fetch and evaluate the tools chunk
  // while the first images are still being loaded and drawn.
  api.toolsReady = Promise.all([api.ready, left.toolsReady, right.toolsReady, toolsGate.then(loadTools)]).then(([, , , T]) => {
    if (destroyed) return api;
    const { synchronizers } = T;
    SyncManager = T.SynchronizerManager;
    libSyncs.push(synchronizers.createVOISynchronizer(`${id}-voi`, { syncInvertState: true, syncColormap: false }));
    if (syncCamera) libSyncs.push(synchronizers.createCameraPositionSynchronizer(`${id}-camera`));
    for (const sync of libSyncs) {
      sync.add(viewportInfo(left));
      sync.add(viewportInfo(right));
    }
    return api;
  });
  api.toolsReady.catch(() => {});
  api.loaded = Promise.all([api.ready, api.toolsReady.catch(() => {}), left.loaded, right.loaded]).then(() => api);
  api.loaded.catch(() => {});
  return api;
}
