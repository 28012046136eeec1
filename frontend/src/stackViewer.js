// A stack viewer for one blinded series. See frontend/README.md for the contract with the reading page.
//
// Blinding: the viewer draws the image and a "k/N" slice counter, nothing else. It never reads or
// shows DICOM attributes such as SeriesDescription, protocol or institution, and it adds no
// request headers, so the only thing that reaches the server is the opaque instance URL.
import {
  Enums as csEnums,
  eventTarget,
  imageLoader,
  utilities as csUtils,
} from '@cornerstonejs/core';
import {
  ToolGroupManager,
  Enums as toolEnums,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  PanTool,
  EllipticalROITool,
  annotation as csAnnotation,
} from '@cornerstonejs/tools';
import { ensureInitialised, getRenderingEngine } from './setup.js';
import { injectStyle } from './style.js';

const { MouseBindings, KeyboardBindings, Events: ToolEvents } = toolEnums;
const Events = csEnums.Events;

// Keys the viewer handles, and only while it has focus. Digits, letters, Tab and Enter are left to
// the score form (issue 6: number keys score the focused item, Tab moves between items).
const KEY_STEPS = {
  ArrowUp: -1,
  ArrowLeft: -1,
  PageUp: -1,
  ArrowDown: 1,
  ArrowRight: 1,
  PageDown: 1,
};

let viewerCounter = 0;

function normalisePresets(presets) {
  if (!presets) return [];
  const list = Array.isArray(presets)
    ? presets
    : Object.entries(presets).map(([name, p]) => ({ name, ...p }));
  return list.map((p) => {
    const windowCenter = Number(p.windowCenter ?? p.center ?? p.level);
    const windowWidth = Number(p.windowWidth ?? p.width ?? p.window);
    if (!p.name || !Number.isFinite(windowCenter) || !(windowWidth > 0)) {
      throw new TypeError(
        `ReaderViewer: preset ${JSON.stringify(p)} needs a name, a windowCenter and a positive windowWidth`,
      );
    }
    return { name: String(p.name), windowCenter, windowWidth };
  });
}

function roiTextLines(mode) {
  if (mode === 'full') return undefined; // Cornerstone's default text: area, mean, max, SD
  return (data, targetId) => {
    if (mode === 'none') return [];
    const stats = data.cachedStats?.[targetId];
    if (!stats || stats.area == null) return [];
    return [`Area: ${csUtils.roundNumber(stats.area)} ${stats.areaUnit}`];
  };
}

/**
 * Create a stack viewer inside `element`.
 *
 * @param {HTMLElement} element  a sized block element; the viewer fills it
 * @param {object} options       see README: imageIds, presets, initialPreset, initialIndex,
 *                               onSliceChange, onVoiChange, onRoi, onRoiRemoved, onProgress, onError,
 *                               roiText ('area' | 'full' | 'none'), keyboard (default true)
 */
export function createStackViewer(element, options = {}) {
  if (!(element instanceof HTMLElement)) {
    throw new TypeError('ReaderViewer.createStackViewer: element must be an HTMLElement');
  }
  const imageIds = Array.from(options.imageIds || []);
  if (!imageIds.length || !imageIds.every((id) => typeof id === 'string' && id.includes(':'))) {
    throw new TypeError(
      'ReaderViewer.createStackViewer: imageIds must be a non-empty list of "wadouri:<url>" strings',
    );
  }
  const presets = normalisePresets(options.presets);
  const count = imageIds.length;
  const callbacks = {
    onSliceChange: options.onSliceChange,
    onVoiChange: options.onVoiChange,
    onRoi: options.onRoi,
    onRoiRemoved: options.onRoiRemoved,
    onProgress: options.onProgress,
    onError: options.onError,
  };

  const renderer = ensureInitialised({ maxWebWorkers: options.maxWebWorkers, rendering: options.rendering });
  injectStyle();

  const uid = `rv${++viewerCounter}`;
  const viewportId = `${uid}-viewport`;
  const toolGroupId = `${uid}-tools`;

  element.classList.add('rv-viewer');
  // In the tab order by default; a page that wants Tab to stay within its form passes tabIndex: -1
  // (a click still gives the viewer the keyboard).
  if (options.tabIndex !== undefined) element.tabIndex = options.tabIndex;
  else if (!element.hasAttribute('tabindex')) element.tabIndex = 0;
  const host = document.createElement('div');
  host.className = 'rv-host';
  const overlay = document.createElement('div');
  overlay.className = 'rv-overlay';
  overlay.setAttribute('aria-live', 'polite');
  const message = document.createElement('div');
  message.className = 'rv-message';
  message.hidden = true;
  element.append(host, overlay, message);

  const renderingEngine = getRenderingEngine();
  const engineId = renderingEngine.id;
  renderingEngine.enableElement({
    viewportId,
    type: csEnums.ViewportType.STACK,
    element: host,
    defaultOptions: { background: [0, 0, 0] },
  });
  const viewport = renderingEngine.getViewport(viewportId);

  const toolGroup = ToolGroupManager.createToolGroup(toolGroupId);
  toolGroup.addTool(StackScrollTool.toolName);
  toolGroup.addTool(WindowLevelTool.toolName);
  toolGroup.addTool(ZoomTool.toolName);
  toolGroup.addTool(PanTool.toolName);
  const textLines = roiTextLines(options.roiText || 'area');
  toolGroup.addTool(EllipticalROITool.toolName, textLines ? { getTextLines: textLines } : {});
  toolGroup.addViewport(viewportId, engineId);
  toolGroup.setToolActive(StackScrollTool.toolName, {
    bindings: [{ mouseButton: MouseBindings.Wheel }],
  });
  toolGroup.setToolActive(ZoomTool.toolName, {
    bindings: [
      { mouseButton: MouseBindings.Secondary },
      { mouseButton: MouseBindings.Wheel, modifierKey: KeyboardBindings.Ctrl },
    ],
  });
  toolGroup.setToolActive(PanTool.toolName, {
    bindings: [
      { mouseButton: MouseBindings.Auxiliary },
      { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift },
    ],
  });

  let primaryTool = null;
  function setTool(name) {
    if (name !== 'windowLevel' && name !== 'roi') {
      throw new TypeError(`ReaderViewer: unknown tool ${JSON.stringify(name)} (windowLevel | roi)`);
    }
    const primary = [{ mouseButton: MouseBindings.Primary }];
    if (name === 'roi') {
      toolGroup.setToolPassive(WindowLevelTool.toolName);
      toolGroup.setToolActive(EllipticalROITool.toolName, { bindings: primary });
    } else {
      // Passive: existing ellipses stay visible and their handles can still be dragged.
      toolGroup.setToolPassive(EllipticalROITool.toolName);
      toolGroup.setToolActive(WindowLevelTool.toolName, { bindings: primary });
    }
    primaryTool = name;
  }
  setTool(options.tool || 'windowLevel');

  // --- state ---------------------------------------------------------------------------------
  let destroyed = false;
  let currentPreset = null;
  let loadedCount = 0;
  let firstRendered = false;
  const failed = new Set(); // slice indexes whose instance could not be loaded
  const roiUids = new Set();
  const completedRois = new Set();
  const listeners = []; // [target, type, fn] for destroy()
  const syncHooks = { slice: [], voi: [], camera: [] };

  function listen(target, type, fn) {
    target.addEventListener(type, fn);
    listeners.push([target, type, fn]);
  }

  function getVoi() {
    const { voiRange, invert } = viewport.getProperties();
    if (!voiRange) return { windowCenter: null, windowWidth: null, invert: !!invert };
    const { windowCenter, windowWidth } = csUtils.windowLevel.toWindowLevel(voiRange.lower, voiRange.upper);
    return { windowCenter, windowWidth, invert: !!invert };
  }

  function updateOverlay() {
    const index = viewport.getCurrentImageIdIndex();
    overlay.textContent = `${index + 1}/${count}`;
  }

  function showMessage(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function reportError(reason, imageId, { overlay = true } = {}) {
    // The loader rejects with the XMLHttpRequest itself; hand the page an Error it can log.
    let error = reason;
    if (typeof XMLHttpRequest !== 'undefined' && reason instanceof XMLHttpRequest) {
      error = new Error(`HTTP ${reason.status} for ${imageId ?? 'an image'}`);
      error.status = reason.status;
    } else if (!(reason instanceof Error)) {
      error = new Error(String(reason));
    }
    if (imageId !== undefined) {
      error.imageId = imageId;
      error.sliceIndex = imageIds.indexOf(imageId);
    }
    if (overlay) showMessage('Image could not be loaded');
    if (callbacks.onError) callbacks.onError(error);
    else console.error('ReaderViewer:', error);
    return error;
  }

  // --- first image and prefetch -----------------------------------------------------------------
  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });

  // Cornerstone also reports renders of the still empty viewport (e.g. after a resize); the first
  // image counts only once the viewport holds image data.
  listen(host, Events.IMAGE_RENDERED, () => {
    if (!firstRendered && viewport.getImageData()) {
      firstRendered = true;
      resolveReady(api);
    }
  });
  listen(host, Events.STACK_NEW_IMAGE, (evt) => {
    updateOverlay();
    showMessage('');
    const index = evt.detail.imageIdIndex;
    if (callbacks.onSliceChange) callbacks.onSliceChange(index, count);
    element.dispatchEvent(new CustomEvent('readerviewer:slice', { detail: { index, count } }));
  });
  // A slice that cannot be loaded when the reader scrolls to it: say so on the image.
  listen(eventTarget, Events.IMAGE_LOAD_ERROR, (evt) => {
    const { imageId } = evt.detail || {};
    if (imageId && firstRendered && imageId === imageIds[viewport.getTargetImageIdIndex()]) {
      showMessage('Image could not be loaded');
    }
  });
  // Sync follows the slice the reader asked for (wheel, keys, API), not the slice drawn last:
  // drawing is asynchronous, and following it would make two linked viewers chase each other.
  function announceTarget(index) {
    for (const hook of syncHooks.slice) hook(index, count);
  }
  listen(host, Events.STACK_VIEWPORT_SCROLL, (evt) => announceTarget(evt.detail.newImageIdIndex));
  listen(host, Events.VOI_MODIFIED, () => {
    const voi = getVoi();
    if (currentPreset) {
      const p = presets.find((x) => x.name === currentPreset);
      if (!p || Math.abs(p.windowCenter - voi.windowCenter) > 1e-6 || Math.abs(p.windowWidth - voi.windowWidth) > 1e-6) {
        currentPreset = null;
      }
    }
    if (callbacks.onVoiChange) callbacks.onVoiChange(voi);
    for (const hook of syncHooks.voi) hook(voi);
  });
  listen(host, Events.CAMERA_MODIFIED, () => {
    for (const hook of syncHooks.camera) hook();
  });
  // The context menu would cover the image on right-drag zoom.
  listen(element, 'contextmenu', (evt) => evt.preventDefault());

  const initialIndex = Math.min(Math.max(0, options.initialIndex | 0), count - 1);

  function prefetchAll() {
    // Nearest slices first, so scrolling from the first image hits the cache early.
    const order = imageIds
      .map((imageId, i) => ({ imageId, d: Math.abs(i - initialIndex) }))
      .sort((a, b) => a.d - b.d)
      .map((x) => x.imageId);
    const total = order.length;
    const one = (imageId) => {
      const done = () => {
        loadedCount += 1;
        if (!destroyed && callbacks.onProgress) callbacks.onProgress(loadedCount, total);
      };
      // Returns the cached promise for images the viewport already asked for. A slice that fails
      // is reported once and does not stop the others; the overlay appears only if it is shown.
      return imageLoader.loadAndCacheImage(imageId).then(done, (reason) => {
        failed.add(imageIds.indexOf(imageId));
        if (!destroyed) reportError(reason, imageId, { overlay: false });
      });
    };
    return Promise.all(order.map(one)).then(() => api);
  }

  const loaded = viewport
    .setStack(imageIds, initialIndex)
    .then(() => {
      if (destroyed) return api;
      if (options.initialPreset) setPreset(options.initialPreset);
      viewport.render();
      updateOverlay();
      return prefetchAll();
    })
    .catch((error) => {
      const imageId = imageIds[initialIndex];
      const reported = destroyed ? error : reportError(error, imageId);
      failed.add(initialIndex);
      rejectReady(reported);
      throw reported;
    });
  // Callers who only await `ready` should not see an unhandled rejection from `loaded`.
  loaded.catch(() => {});

  // --- ROI ------------------------------------------------------------------------------------
  function roiFromAnnotation(annotation) {
    const { referencedImageId } = annotation.metadata;
    const sliceIndex = imageIds.indexOf(referencedImageId);
    const stats = Object.values(annotation.data.cachedStats || {}).find((s) => s && s.mean != null);
    if (!stats) return null;
    const areaUnit = stats.areaUnit || null;
    return {
      id: annotation.annotationUID,
      sliceIndex,
      slice: sliceIndex + 1,
      count,
      mean: stats.mean,
      stdDev: stats.stdDev,
      min: stats.min,
      max: stats.max,
      area: stats.area,
      areaUnit,
      areaMm2: areaUnit === 'mm²' ? stats.area : null,
      // Pixels whose centres fall inside the ellipse: the sample size behind mean and SD.
      pixelCount: (stats.statsArray || []).find((x) => x.name === 'count')?.value ?? null,
    };
  }
  function isMine(detail) {
    const ann = detail.annotation;
    if (!ann || ann.metadata?.toolName !== EllipticalROITool.toolName) return false;
    if (detail.viewportId && detail.viewportId !== viewportId) return false;
    return imageIds.includes(ann.metadata.referencedImageId);
  }
  function emitRoi(annotation) {
    const roi = roiFromAnnotation(annotation);
    if (!roi) return;
    if (callbacks.onRoi) callbacks.onRoi(roi);
    element.dispatchEvent(new CustomEvent('readerviewer:roi', { detail: roi }));
  }
  listen(eventTarget, ToolEvents.ANNOTATION_ADDED, (evt) => {
    if (isMine(evt.detail)) roiUids.add(evt.detail.annotation.annotationUID);
  });
  listen(eventTarget, ToolEvents.ANNOTATION_COMPLETED, (evt) => {
    const ann = evt.detail.annotation;
    if (!ann || !roiUids.has(ann.annotationUID)) return;
    completedRois.add(ann.annotationUID);
    // Statistics still from the previous drag position are recomputed on the next render, which
    // reports them (StatsUpdated below); report now only if they are current.
    if (!ann.invalidated) emitRoi(ann);
  });
  listen(eventTarget, ToolEvents.ANNOTATION_MODIFIED, (evt) => {
    const ann = evt.detail.annotation;
    if (!ann || !completedRois.has(ann.annotationUID)) return;
    if (evt.detail.changeType !== toolEnums.ChangeTypes.StatsUpdated) return;
    emitRoi(ann);
  });
  listen(eventTarget, ToolEvents.ANNOTATION_REMOVED, (evt) => {
    const ann = evt.detail.annotation;
    if (!ann || !roiUids.has(ann.annotationUID)) return;
    roiUids.delete(ann.annotationUID);
    completedRois.delete(ann.annotationUID);
    if (callbacks.onRoiRemoved) callbacks.onRoiRemoved(ann.annotationUID);
    element.dispatchEvent(new CustomEvent('readerviewer:roiremoved', { detail: { id: ann.annotationUID } }));
  });

  function getRois() {
    return [...completedRois]
      .map((id) => csAnnotation.state.getAnnotation(id))
      .filter(Boolean)
      .map(roiFromAnnotation)
      .filter(Boolean);
  }
  function removeRoi(id) {
    if (!roiUids.has(id)) return false;
    csAnnotation.state.removeAnnotation(id);
    viewport.render();
    return true;
  }
  function clearRois() {
    for (const id of [...roiUids]) csAnnotation.state.removeAnnotation(id);
    viewport.render();
  }

  // --- keyboard -------------------------------------------------------------------------------
  if (options.keyboard !== false) {
    listen(element, 'keydown', (evt) => {
      if (evt.altKey || evt.ctrlKey || evt.metaKey) return;
      let handled = true;
      if (evt.key in KEY_STEPS) scroll(KEY_STEPS[evt.key]);
      else if (evt.key === 'Home') setIndex(0);
      else if (evt.key === 'End') setIndex(count - 1);
      else handled = false;
      if (handled) {
        evt.preventDefault();
        evt.stopPropagation();
      }
    });
    // Clicking into the image gives it the keyboard, as a workstation viewport would.
    listen(element, 'pointerdown', () => {
      if (document.activeElement !== element) element.focus({ preventScroll: true });
    });
  }

  // --- public API -----------------------------------------------------------------------------
  function getIndex() {
    return viewport.getCurrentImageIdIndex();
  }
  function setIndexQuietly(index) {
    const i = Math.min(Math.max(0, Math.round(index)), count - 1);
    if (i === viewport.getTargetImageIdIndex() && i === getIndex()) return { i, done: Promise.resolve(i) };
    // A slice that fails to load was reported through onError and the overlay; callers (keys,
    // wheel, sync) need not handle a rejection.
    return { i, done: viewport.setImageIdIndex(i).then(() => i, () => i) };
  }
  function setIndex(index) {
    const { i, done } = setIndexQuietly(index);
    announceTarget(i);
    return done;
  }
  function scroll(delta) {
    // From the target, not the drawn slice, so a held arrow key accumulates while images decode.
    return setIndex(viewport.getTargetImageIdIndex() + delta);
  }
  function setWindow(windowCenter, windowWidth) {
    if (!Number.isFinite(windowCenter) || !(windowWidth > 0)) {
      throw new TypeError('ReaderViewer.setWindow(center, width): width must be positive');
    }
    viewport.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(windowWidth, windowCenter) });
    viewport.render();
  }
  function setPreset(name) {
    const p = presets.find((x) => x.name === name);
    if (!p) throw new RangeError(`ReaderViewer: no preset named ${JSON.stringify(name)}`);
    setWindow(p.windowCenter, p.windowWidth);
    currentPreset = p.name;
  }
  function invert(on) {
    const next = on === undefined ? !viewport.getProperties().invert : !!on;
    viewport.setProperties({ invert: next });
    viewport.render();
    return next;
  }
  function reset() {
    currentPreset = null;
    viewport.resetProperties(); // default window from the image, invert off
    viewport.resetCamera(); // zoom and pan
    if (options.initialPreset) setPreset(options.initialPreset);
    viewport.render();
  }
  function getCamera() {
    return { zoom: viewport.getZoom(), pan: Array.from(viewport.getPan()) };
  }
  function setCamera({ zoom, pan }) {
    if (Number.isFinite(zoom)) viewport.setZoom(zoom);
    if (pan) viewport.setPan(pan);
    viewport.render();
  }
  function getState() {
    const voi = getVoi();
    const camera = getCamera();
    return {
      index: getIndex(),
      count,
      windowCenter: voi.windowCenter,
      windowWidth: voi.windowWidth,
      invert: voi.invert,
      preset: currentPreset,
      zoom: camera.zoom,
      pan: camera.pan,
      tool: primaryTool,
      renderer,
      loaded: loadedCount,
      failed: [...failed].sort((a, b) => a - b),
      rendered: firstRendered,
      rois: getRois(),
    };
  }
  function destroy() {
    if (destroyed) return;
    destroyed = true;
    for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    clearRois();
    ToolGroupManager.destroyToolGroup(toolGroupId);
    renderingEngine.disableElement(viewportId);
    host.remove();
    overlay.remove();
    message.remove();
    element.classList.remove('rv-viewer');
  }

  const api = {
    element,
    ready,
    loaded,
    presets: presets.map((p) => ({ ...p })),
    getIndex,
    setIndex,
    scroll,
    first: () => setIndex(0),
    last: () => setIndex(count - 1),
    setWindow,
    setPreset,
    invert,
    reset,
    setTool,
    getRois,
    removeRoi,
    clearRois,
    getCamera,
    setCamera,
    getState,
    destroy,
    // For createSideBySide: hooks that see every slice, window and camera change.
    _sync: syncHooks,
    _setIndexQuietly: (index) => setIndexQuietly(index).done,
    _viewport: viewport,
  };
  updateOverlay();
  return api;
}
