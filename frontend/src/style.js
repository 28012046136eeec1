// The few style rules the viewer needs, injected once so the bundle is a single script to include.
const CSS = `
.rv-viewer { position: relative; overflow: hidden; background: #000; outline: none; user-select: none; touch-action: none; }
.rv-viewer:focus-visible { box-shadow: inset 0 0 0 2px #4c9aff; }
.rv-viewer > .rv-host { position: absolute; inset: 0; }
.rv-viewer > .rv-overlay { position: absolute; right: 8px; bottom: 6px; z-index: 2; pointer-events: none;
  color: #e8e8e8; font: 13px/1.2 system-ui, sans-serif; text-shadow: 0 0 2px #000, 0 0 2px #000; }
.rv-viewer > .rv-info { position: absolute; inset: 0; z-index: 2; pointer-events: none; color: #e8e8e8;
  font: 12px/1.25 system-ui, sans-serif; text-shadow: 0 0 2px #000, 0 0 2px #000; }
.rv-viewer > .rv-info[hidden] { display: none; }
.rv-info > .rv-label { position: absolute; left: 8px; top: 6px; font-weight: 600; font-size: 13px; }
.rv-info > .rv-window { position: absolute; right: 8px; top: 6px; }
.rv-info > .rv-slicepos { position: absolute; left: 8px; bottom: 6px; }
.rv-info > .rv-orient { position: absolute; font-weight: 700; font-size: 13px; color: #ffd166; }
.rv-orient-top { top: 6px; left: 50%; transform: translateX(-50%); }
.rv-orient-bottom { bottom: 6px; left: 50%; transform: translateX(-50%); }
.rv-orient-left { left: 8px; top: 50%; transform: translateY(-50%); }
.rv-orient-right { right: 8px; top: 50%; transform: translateY(-50%); }
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
