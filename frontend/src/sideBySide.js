// Two stack viewers for a paired read: slice, window/level, invert and (by default) zoom/pan
// follow each other. The page decides which series goes left and right (randomised and recorded
// by the server); this module never learns which arm is which.
import { createStackViewer } from './stackViewer.js';

function mapIndex(index, fromCount, toCount) {
  if (fromCount === toCount || fromCount <= 1) return Math.min(index, toCount - 1);
  return Math.round((index * (toCount - 1)) / (fromCount - 1));
}

/**
 * @param {HTMLElement} leftEl
 * @param {HTMLElement} rightEl
 * @param {object} options  leftIds, rightIds, syncCamera (default true), and any createStackViewer
 *                          option; callbacks receive the side ('left' | 'right') as last argument.
 */
export function createSideBySide(leftEl, rightEl, options = {}) {
  const { leftIds, rightIds, syncCamera = true, ...shared } = options;
  const sideOptions = (side, imageIds) => {
    const wrap = (fn) => (fn ? (...args) => fn(...args, side) : undefined);
    return {
      ...shared,
      imageIds,
      onSliceChange: wrap(shared.onSliceChange),
      onVoiChange: wrap(shared.onVoiChange),
      onRoi: wrap(shared.onRoi),
      onRoiRemoved: wrap(shared.onRoiRemoved),
      onProgress: wrap(shared.onProgress),
      onError: wrap(shared.onError),
    };
  };
  const left = createStackViewer(leftEl, sideOptions('left', leftIds));
  let right;
  try {
    right = createStackViewer(rightEl, sideOptions('right', rightIds));
  } catch (error) {
    left.destroy();
    throw error;
  }

  // Nothing is linked until both series show their first image; then the right side takes the
  // left side's window, so the pair starts out comparable.
  let linked = false;
  // One change at a time: a change made by the sync must not echo back to its source.
  let syncing = false;
  const guarded = (fn) => (...args) => {
    if (syncing || !linked) return;
    syncing = true;
    try {
      fn(...args);
    } finally {
      syncing = false;
    }
  };
  function link(src, dst) {
    src._sync.slice.push(
      guarded((index, count) => {
        dst._setIndexQuietly(mapIndex(index, count, dst.getState().count));
      }),
    );
    src._sync.voi.push(
      guarded((voi) => {
        if (voi.windowWidth == null) return;
        const mine = dst.getState();
        if (mine.windowCenter !== voi.windowCenter || mine.windowWidth !== voi.windowWidth) {
          dst.setWindow(voi.windowCenter, voi.windowWidth);
        }
        if (mine.invert !== voi.invert) dst.invert(voi.invert);
      }),
    );
    if (syncCamera) {
      src._sync.camera.push(guarded(() => dst.setCamera(src.getCamera())));
    }
  }
  link(left, right);
  link(right, left);

  const both = (fn) => {
    syncing = true;
    try {
      fn(left);
      fn(right);
    } finally {
      syncing = false;
    }
  };
  const api = {
    left,
    right,
    ready: null,
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
    reset: () => both((v) => v.reset()),
    setTool: (name) => both((v) => v.setTool(name)),
    getState: () => ({ left: left.getState(), right: right.getState() }),
    destroy: () => both((v) => v.destroy()),
  };
  api.ready = Promise.all([left.ready, right.ready]).then(() => {
    const s = left.getState();
    if (!shared.initialPreset && s.windowWidth != null) {
      right.setWindow(s.windowCenter, s.windowWidth);
    }
    right._setIndexQuietly(mapIndex(s.index, s.count, right.getState().count));
    if (syncCamera) right.setCamera(left.getCamera());
    linked = true;
    return api;
  });
  api.loaded = Promise.all([api.ready, left.loaded, right.loaded]).then(() => api);
  api.loaded.catch(() => {});
  return api;
}
