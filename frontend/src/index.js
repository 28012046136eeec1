// Entry of the viewer bundle: an ES module that also publishes window.ReaderViewer,
// so a Django template can use it with a plain <script type="module" src=...>.
// First: starts the decode worker before the libraries below are evaluated (decodeWorker.js).
import './decodeWorker.js';
import { createStackViewer } from './stackViewer.js';
import { createSideBySide } from './sideBySide.js';
import { createCaseViewer } from './caseViewer.js';
import { getRenderer } from './setup.js';

export const version = '0.1.0';
export { createStackViewer, createSideBySide, createCaseViewer, getRenderer };

const ReaderViewer = Object.freeze({ version, createStackViewer, createSideBySide, createCaseViewer, getRenderer });
if (typeof window !== 'undefined') {
  window.ReaderViewer = ReaderViewer;
  window.dispatchEvent(new CustomEvent('readerviewer:ready', { detail: ReaderViewer }));
}
export default ReaderViewer;
