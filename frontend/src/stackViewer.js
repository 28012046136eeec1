// A stack viewer for one blinded series. See frontend/README.md for the contract with the reading page.
//
// Blinding: the viewer draws the image and a reading overlay — the label the page gives it (the
// neutral sequence name), orientation letters, slice k/N with its position and thickness, and the
// window — nothing else. It never reads or shows DICOM attributes such as SeriesDescription,
// protocol or institution, offers no pixel probe (raw stored values differ between arms), and adds
// no request headers, so the only thing that reaches the server is the opaque instance URL.
import {
  Enums as csEnums,
  eventTarget,
  imageLoader,
  metaData,
  utilities as csUtils,
} from '@cornerstonejs/core';
import { ensureInitialised, getRenderingEngine, loadTools } from './setup.js';
import { injectStyle } from './style.js';

// @cornerstonejs/tools is not in the entry chunk: each viewer loads it (setup.js loadTools) once
// its first image is drawn, then binds the mouse tools (attachTools below). Until then the image
// is on screen and the keyboard and wheel scroll it; tools asked for meanwhile are applied on attach.
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

// Left-drag tools: the page's names → Cornerstone's (filled once the tools chunk is loaded).
const PRIMARY_TOOL_NAMES = ['windowLevel', 'roi', 'length', 'angle', 'windowRegion'];
function primaryTools(T) {
  return {
    windowLevel: T.WindowLevelTool.toolName,
    roi: T.EllipticalROITool.toolName,
    length: T.LengthTool.toolName,
    angle: T.AngleTool.toolName,
    windowRegion: T.WindowLevelRegionTool.toolName, // auto-window on a dragged region
  };
}

function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
function dot(a, b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
function fmt(x, digits = 1) {
  return Number.isFinite(x) ? x.toFixed(digits) : '?';
}

/** Where slice `imageId` lies: its position along the slice normal (mm) and its thickness (mm). */
export function slicePosition(imageId) {
  const plane = metaData.get('imagePlaneModule', imageId);
  if (!plane || !plane.imagePositionPatient || !plane.rowCosines || !plane.columnCosines) return null;
  const normal = cross(plane.rowCosines, plane.columnCosines);
  return { positionMm: dot(plane.imagePositionPatient, normal), thicknessMm: plane.sliceThickness ?? null };
}
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
  const initialIndex = Math.min(Math.max(0, options.initialIndex | 0), count - 1);
  // The first instance is asked for now, before the viewport and its canvas are set up, so its
  // request overlaps that work; the viewport's own request (setStack below) gets this cached load,
  // with the options the viewport itself uses (RGBA output on the CPU path). Its failure is reported
  // by setStack.
  imageLoader
    .loadAndCacheImage(imageIds[initialIndex], { useRGBA: renderer === 'cpu', priority: -5, requestType: 'interaction' })
    .catch(() => {});
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
  // The reading overlay (corners and edges), pointer-transparent.
  const info = document.createElement('div');
  info.className = 'rv-info';
  const label = document.createElement('div');
  label.className = 'rv-label';
  label.textContent = options.label ? String(options.label) : '';
  const windowText = document.createElement('div');
  windowText.className = 'rv-window';
  const sliceText = document.createElement('div');
  sliceText.className = 'rv-slicepos';
  const markers = {};
  for (const edge of ['top', 'bottom', 'left', 'right']) {
    markers[edge] = document.createElement('div');
    markers[edge].className = `rv-orient rv-orient-${edge}`;
  }
  info.append(label, windowText, sliceText, ...Object.values(markers));
  if (options.overlay === false) info.hidden = true;
  element.append(host, info, overlay, message);

  const renderingEngine = getRenderingEngine();
  const engineId = renderingEngine.id;
  renderingEngine.enableElement({
    viewportId,
    type: csEnums.ViewportType.STACK,
    element: host,
    defaultOptions: { background: [0, 0, 0] },
  });
  const viewport = renderingEngine.getViewport(viewportId);

  // --- tools (bound once the tools chunk is loaded) ----------------------------------------------
  let T = null; // the tools module, once attached
  let toolGroup = null;
  let PRIMARY_TOOLS = null;
  let MEASUREMENT_TOOLS = {};
  let primaryTool = null;
  let cinePlaying = false;
  let cineFps = 10;
  const textLines = roiTextLines(options.roiText || 'area');

  function attachTools(tools) {
    T = tools;
    PRIMARY_TOOLS = primaryTools(T);
    MEASUREMENT_TOOLS = { [T.LengthTool.toolName]: 'length', [T.AngleTool.toolName]: 'angle' };
    const { MouseBindings, KeyboardBindings } = T.Enums;
    T.adoptElement({ element: host, viewportId, renderingEngineId: engineId });
    toolGroup = T.ToolGroupManager.createToolGroup(toolGroupId);
    toolGroup.addTool(T.StackScrollTool.toolName);
    toolGroup.addTool(T.WindowLevelTool.toolName);
    toolGroup.addTool(T.ZoomTool.toolName);
    toolGroup.addTool(T.PanTool.toolName);
    toolGroup.addTool(T.EllipticalROITool.toolName, textLines ? { getTextLines: textLines } : {});
    toolGroup.addTool(T.LengthTool.toolName);
    toolGroup.addTool(T.AngleTool.toolName);
    toolGroup.addTool(T.WindowLevelRegionTool.toolName);
    if (options.referenceLines) {
      // Cross-reference lines of another pane's current slice (createCaseViewer sets the source).
      // The frame-of-reference check is off: blinded series get new frame UIDs, while their geometry
      // stays in the patient's coordinates, shared by the sequences of one examination.
      toolGroup.addTool(T.ReferenceLinesTool.toolName, { sourceViewportId: '', enforceSameFrameOfReference: false });
      toolGroup.setToolEnabled(T.ReferenceLinesTool.toolName);
    }
    toolGroup.addViewport(viewportId, engineId);
    toolGroup.setToolActive(T.StackScrollTool.toolName, {
      bindings: [{ mouseButton: MouseBindings.Wheel }],
    });
    toolGroup.setToolActive(T.ZoomTool.toolName, {
      bindings: [
        { mouseButton: MouseBindings.Secondary },
        { mouseButton: MouseBindings.Wheel, modifierKey: KeyboardBindings.Ctrl },
      ],
    });
    toolGroup.setToolActive(T.PanTool.toolName, {
      bindings: [
        { mouseButton: MouseBindings.Auxiliary },
        { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift },
      ],
    });
    api._toolGroup = toolGroup;
    listenAnnotations();
    applyTool(primaryTool);
    updateOrientation();
    if (cinePlaying) T.utilities.cine.playClip(host, { framesPerSecond: cineFps, loop: true });
    viewport.render();
  }

  function applyTool(name) {
    const primary = [{ mouseButton: T.Enums.MouseBindings.Primary }];
    // Passive: existing ellipses and measurements stay visible and their handles can be dragged.
    for (const [other, toolName] of Object.entries(PRIMARY_TOOLS)) {
      if (other !== name) toolGroup.setToolPassive(toolName);
    }
    toolGroup.setToolActive(PRIMARY_TOOLS[name], { bindings: primary });
  }
  function setTool(name) {
    if (!PRIMARY_TOOL_NAMES.includes(name)) {
      throw new TypeError(`ReaderViewer: unknown tool ${JSON.stringify(name)} (${PRIMARY_TOOL_NAMES.join(' | ')})`);
    }
    primaryTool = name;
    if (toolGroup) applyTool(name);
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
    const where = slicePosition(imageIds[index]);
    sliceText.textContent = where
      ? `Slice ${index + 1}/${count} · pos ${fmt(where.positionMm)} mm${where.thicknessMm != null ? ` · thk ${fmt(Number(where.thicknessMm))} mm` : ''}`
      : `Slice ${index + 1}/${count}`;
  }
  function updateWindowText() {
    const voi = getVoi();
    windowText.textContent = voi.windowWidth == null ? '' : `W ${Math.round(voi.windowWidth)} L ${Math.round(voi.windowCenter)}${voi.invert ? ' · inv' : ''}`;
  }
  // Orientation letters at the edges, from the camera (follows flips and rotation): what lies in
  // the direction of each edge, in patient LPS words (R/L, A/P, H/F as S/I).
  function updateOrientation() {
    let camera;
    try {
      camera = viewport.getCamera();
    } catch (error) {
      return;
    }
    const { viewUp, viewPlaneNormal } = camera || {};
    if (!T || !viewUp || !viewPlaneNormal || !viewport.getImageData()) return; // letters come with the tools
    const right = cross(viewUp, viewPlaneNormal);
    const letters = (v) => T.utilities.orientation.getOrientationStringLPS(v);
    const inv = (v) => v.map((x) => -x);
    markers.top.textContent = letters(viewUp);
    markers.bottom.textContent = letters(inv(viewUp));
    markers.right.textContent = letters(right);
    markers.left.textContent = letters(inv(right));
  }

  function showMessage(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function reportError(reason, imageId, { overlay = true } = {}) {
    // The loader rejects with the XMLHttpRequest itself, or (its dicom-parser path) with
    // { error: <XMLHttpRequest or Error>, dataSet? }; hand the page an Error it can log.
    let error = reason;
    if (error && !(error instanceof Error) && typeof error === 'object' && 'error' in error) error = error.error;
    if (typeof XMLHttpRequest !== 'undefined' && error instanceof XMLHttpRequest) {
      const status = error.status;
      error = new Error(`HTTP ${status} for ${imageId ?? 'an image'}`);
      error.status = status;
    } else if (!(error instanceof Error)) {
      error = new Error(String(error));
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

  // `tools`: the mouse tools, measurements, synchronizers and cross-reference lines are bound.
  let resolveTools;
  let rejectTools;
  const toolsReady = new Promise((resolve, reject) => {
    resolveTools = resolve;
    rejectTools = reject;
  });
  toolsReady.catch(() => {});
  // The wheel scrolls before the tools' StackScrollTool takes over (one slice per notch).
  function wheelBeforeTools(evt) {
    if (T || evt.ctrlKey || !evt.deltaY) return;
    evt.preventDefault();
    scroll(Math.sign(evt.deltaY));
  }
  element.addEventListener('wheel', wheelBeforeTools, { passive: false });

  // Cornerstone also reports renders of the still empty viewport (e.g. after a resize); the first
  // image counts only once the viewport holds image data.
  listen(host, Events.IMAGE_RENDERED, () => {
    if (!firstRendered && viewport.getImageData()) {
      firstRendered = true;
      updateOverlay();
      updateWindowText();
      updateOrientation();
      resolveReady(api);
      // Now the tools: fetched, evaluated and bound after the first image, never before it (in a
      // pair or case read, after every pane's first image: options._toolsGate).
      Promise.resolve(options._toolsGate).then(loadTools).then((tools) => {
        if (destroyed) return;
        attachTools(tools);
        element.removeEventListener('wheel', wheelBeforeTools);
        resolveTools(api);
      }, (error) => {
        if (!destroyed) reportError(error, undefined, { overlay: false });
        rejectTools(error);
      });
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
    updateWindowText();
    if (callbacks.onVoiChange) callbacks.onVoiChange(voi);
    for (const hook of syncHooks.voi) hook(voi);
  });
  listen(host, Events.CAMERA_MODIFIED, () => {
    updateOrientation();
    for (const hook of syncHooks.camera) hook();
  });
  // The canvas follows the element's size (full-screen pane, window resize, layout changes).
  let resizeObserver = null;
  if (typeof ResizeObserver !== 'undefined') {
    let pendingResize = 0;
    resizeObserver = new ResizeObserver(() => {
      cancelAnimationFrame(pendingResize);
      pendingResize = requestAnimationFrame(() => {
        if (!destroyed) renderingEngine.resize(true, true);
      });
    });
    resizeObserver.observe(element);
  }
  // The context menu would cover the image on right-drag zoom.
  listen(element, 'contextmenu', (evt) => evt.preventDefault());

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
      // `loaded`: every instance cached and the tools bound (a failure of either is reported, not thrown).
      return Promise.all([prefetchAll(), toolsReady.catch(() => {})]).then(() => api);
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
    if (!ann || ann.metadata?.toolName !== T.EllipticalROITool.toolName) return false;
    if (detail.viewportId && detail.viewportId !== viewportId) return false;
    return imageIds.includes(ann.metadata.referencedImageId);
  }
  function emitRoi(annotation) {
    const roi = roiFromAnnotation(annotation);
    if (!roi) return;
    if (callbacks.onRoi) callbacks.onRoi(roi);
    element.dispatchEvent(new CustomEvent('readerviewer:roi', { detail: roi }));
  }

  // Length and angle measurements: reported through onMeasurement, like ellipses through onRoi.
  const measurementUids = new Set();
  function measurementFrom(annotation) {
    const kind = MEASUREMENT_TOOLS[annotation.metadata?.toolName];
    if (!kind) return null;
    const sliceIndex = imageIds.indexOf(annotation.metadata.referencedImageId);
    const stats = Object.values(annotation.data.cachedStats || {})[0] || {};
    const value = kind === 'length' ? stats.length : stats.angle;
    if (typeof value !== 'number' || !Number.isFinite(value)) return null;
    return {
      id: annotation.annotationUID,
      kind,
      value,
      unit: kind === 'length' ? stats.unit || 'mm' : '°',
      sliceIndex,
      slice: sliceIndex + 1,
      points: (annotation.data.handles?.points || []).map((p) => Array.from(p, (x) => Math.round(x * 100) / 100)),
    };
  }
  function isMyMeasurement(detail) {
    const ann = detail.annotation;
    if (!ann || !MEASUREMENT_TOOLS[ann.metadata?.toolName]) return false;
    if (detail.viewportId && detail.viewportId !== viewportId) return false;
    return imageIds.includes(ann.metadata.referencedImageId);
  }
  function emitMeasurement(annotation) {
    const m = measurementFrom(annotation);
    if (!m) return;
    if (options.onMeasurement) options.onMeasurement(m);
    element.dispatchEvent(new CustomEvent('readerviewer:measurement', { detail: m }));
  }
  // Annotation events, listened to once the tools are attached (nothing can be drawn before).
  function listenAnnotations() {
    const ToolEvents = T.Enums.Events;
    const { ChangeTypes } = T.Enums;
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
      if (evt.detail.changeType !== ChangeTypes.StatsUpdated) return;
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
    listen(eventTarget, ToolEvents.ANNOTATION_COMPLETED, (evt) => {
      if (!isMyMeasurement(evt.detail)) return;
      measurementUids.add(evt.detail.annotation.annotationUID);
      // Stale statistics (from the previous drag position) are recomputed on the next render, which
      // reports them through StatsUpdated below.
      if (!evt.detail.annotation.invalidated) emitMeasurement(evt.detail.annotation);
    });
    listen(eventTarget, ToolEvents.ANNOTATION_MODIFIED, (evt) => {
      const ann = evt.detail.annotation;
      if (!ann || !measurementUids.has(ann.annotationUID)) return;
      if (evt.detail.changeType !== ChangeTypes.StatsUpdated) return;
      emitMeasurement(ann);
    });
    listen(eventTarget, ToolEvents.ANNOTATION_REMOVED, (evt) => {
      const ann = evt.detail.annotation;
      if (ann) measurementUids.delete(ann.annotationUID);
    });
}
  function getMeasurements() {
    if (!T) return [];
    return [...measurementUids]
      .map((id) => T.annotation.state.getAnnotation(id))
      .filter(Boolean)
      .map(measurementFrom)
      .filter(Boolean);
  }

  function getRois() {
    if (!T) return [];
    return [...completedRois]
      .map((id) => T.annotation.state.getAnnotation(id))
      .filter(Boolean)
      .map(roiFromAnnotation)
      .filter(Boolean);
  }
  function removeRoi(id) {
    if (!T || !roiUids.has(id)) return false;
    T.annotation.state.removeAnnotation(id);
    viewport.render();
    return true;
  }
  function clearRois() {
    if (!T) return;
    for (const id of [...roiUids, ...measurementUids]) T.annotation.state.removeAnnotation(id);
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
  // zoom/pan as Cornerstone reports them, and the world camera (mm, patient coordinates): two panes
  // show the same view exactly when their world cameras agree.
  function getCamera() {
    const c = viewport.getCamera();
    const round = (v) => (v ? Array.from(v, (x) => Math.round(x * 1000) / 1000) : null);
    return {
      zoom: viewport.getZoom(),
      pan: Array.from(viewport.getPan()),
      focalPoint: round(c.focalPoint),
      position: round(c.position),
      viewUp: round(c.viewUp),
      parallelScale: c.parallelScale == null ? null : Math.round(c.parallelScale * 1000) / 1000,
    };
  }
  // Zoom to fit (the whole image in the pane, centred) or 1:1 (one image pixel per screen pixel).
  function fit() {
    viewport.resetCamera({ resetPan: true, resetZoom: true });
    viewport.render();
  }
  function actualSize() {
    const image = viewport.getImageData();
    if (!image) return;
    const cssHeight = element.clientHeight || viewport.canvas.clientHeight;
    const rowSpacingMm = image.spacing ? image.spacing[1] : 1;
    const { parallelScale } = viewport.getCamera(); // half the world height the pane shows, in mm
    if (!(parallelScale > 0) || !(cssHeight > 0)) return;
    const screenPxPerMm = cssHeight / (2 * parallelScale);
    viewport.setZoom(viewport.getZoom() * (1 / rowSpacingMm) / screenPxPerMm);
    viewport.render();
  }
  // Cine: the library's clip player on this viewport, looping.
  // Asked for before the tools are attached, it starts on attach.
  function cine(on, framesPerSecond = 10) {
    const next = on === undefined ? !cinePlaying : !!on;
    if (next) cineFps = framesPerSecond;
    if (T && next && !cinePlaying) T.utilities.cine.playClip(host, { framesPerSecond, loop: true });
    else if (T && !next && cinePlaying) T.utilities.cine.stopClip(host);
    cinePlaying = next;
    return next;
  }
  function setCamera({ zoom, pan, focalPoint, position, viewUp, parallelScale }) {
    if (focalPoint && position) {
      // The world camera: exact, whatever each viewport took as its own reference for zoom/pan.
      const camera = { focalPoint, position };
      if (viewUp) camera.viewUp = viewUp;
      if (Number.isFinite(parallelScale)) camera.parallelScale = parallelScale;
      viewport.setCamera(camera);
    } else {
      if (Number.isFinite(zoom)) viewport.setZoom(zoom);
      if (pan) viewport.setPan(pan);
    }
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
      tools: !!T,
      renderer,
      loaded: loadedCount,
      failed: [...failed].sort((a, b) => a - b),
      rendered: firstRendered,
      rois: getRois(),
      measurements: getMeasurements(),
      cine: cinePlaying,
      overlay: {
        label: label.textContent,
        window: windowText.textContent,
        slice: sliceText.textContent,
        orientation: { top: markers.top.textContent, bottom: markers.bottom.textContent,
          left: markers.left.textContent, right: markers.right.textContent },
      },
    };
  }
  function destroy() {
    if (destroyed) return;
    destroyed = true;
    if (cinePlaying) cine(false);
    if (resizeObserver) resizeObserver.disconnect();
    for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    element.removeEventListener('wheel', wheelBeforeTools);
    clearRois();
    if (toolGroup) T.ToolGroupManager.destroyToolGroup(toolGroupId);
    renderingEngine.disableElement(viewportId);
    host.remove();
    overlay.remove();
    info.remove();
    message.remove();
    element.classList.remove('rv-viewer');
  }

  const api = {
    element,
    ready,
    toolsReady,
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
    fit,
    actualSize,
    cine,
    getMeasurements,
    setLabel: (text) => { label.textContent = text ? String(text) : ''; },
    getState,
    destroy,
    // For createSideBySide: hooks that see every slice, window and camera change.
    _sync: syncHooks,
    _setIndexQuietly: (index) => setIndexQuietly(index).done,
    _viewport: viewport,
    _viewportId: viewportId,
    _toolGroup: null, // set when the tools are attached
    _engineId: engineId,
  };
  updateOverlay();
  return api;
}
