// The few style rules the viewer needs, injected once so the bundle is a single script to include.
const CSS = `
.rv-viewer { position: relative; overflow: hidden; background: #000; outline: none; user-select: none; touch-action: none; }
.rv-viewer:focus-visible { box-shadow: inset 0 0 0 2px #4c9aff; }
.rv-viewer > .rv-host { position: absolute; inset: 0; }
.rv-viewer > .rv-overlay { position: absolute; right: 8px; bottom: 6px; z-index: 2; pointer-events: none;
  color: #e8e8e8; font: 13px/1.2 system-ui, sans-serif; text-shadow: 0 0 2px #000, 0 0 2px #000; }
.rv-viewer > .rv-message { position: absolute; inset: 0; z-index: 3; display: flex; align-items: center;
  justify-content: center; color: #f0c0c0; font: 14px system-ui, sans-serif; pointer-events: none; }
.rv-viewer > .rv-message[hidden] { display: none; }
`;

let injected = false;

export function injectStyle() {
  if (injected || typeof document === 'undefined') return;
  const style = document.createElement('style');
  style.dataset.readerViewer = '';
  style.textContent = CSS;
  document.head.appendChild(style);
  injected = true;
}
