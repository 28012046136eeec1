// Entry of the viewer bundle: an ES module that also publishes window.ReaderViewer,
// so a Django template can use it with a plain <script type="module" src=...>.
import { createStackViewer } from './stackViewer.js';
import { createSideBySide } from './sideBySide.js';

export const version = '0.1.0';
export { createStackViewer, createSideBySide };

const ReaderViewer = Object.freeze({ version, createStackViewer, createSideBySide });
if (typeof window !== 'undefined') {
  window.ReaderViewer = ReaderViewer;
  window.dispatchEvent(new CustomEvent('readerviewer:ready', { detail: ReaderViewer }));
}
export default ReaderViewer;
