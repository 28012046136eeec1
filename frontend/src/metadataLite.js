// What the viewer bundle's copy of Cornerstone (core and the DICOM loader's wadouri path) uses of
// @cornerstonejs/metadata 5.14, re-exported member by member. vite.config.js resolves
// '@cornerstonejs/metadata' to this module for the viewer entry.
//
// Why: core and the loader read the package through its namespace objects (`utilities`, `Enums`),
// in part by destructuring them at module level, so the bundler had to build those objects whole,
// and `utilities` re-exports the display-set rules, the DICOM stream parser and the naturalized
// metadata providers, all built on dcmjs (1.1 MB, with its tag dictionary). None of it runs in the
// viewer: instances are parsed by dicom-parser (setup.js registers the loader's wadouri path and its
// metadata provider), and core never calls the display-set rules. Every member below is the
// package's own code; the two that would need dcmjs throw if ever called, so a future use fails
// loudly instead of silently.
import * as metaData from '../node_modules/@cornerstonejs/metadata/dist/esm/metaData.js';
import * as logging from '../node_modules/@cornerstonejs/metadata/dist/esm/utilities/logging.js';
import MetadataModules from '../node_modules/@cornerstonejs/metadata/dist/esm/enums/MetadataModules.js';
import CalibrationTypes from '../node_modules/@cornerstonejs/metadata/dist/esm/enums/CalibrationTypes.js';
import TransferSyntaxes from '../node_modules/@cornerstonejs/metadata/dist/esm/enums/TransferSyntaxes.js';
import isVideoTransferSyntax, { videoUIDs } from '../node_modules/@cornerstonejs/metadata/dist/esm/utilities/isVideoTransferSyntax.js';
import imageIdToURI from '../node_modules/@cornerstonejs/metadata/dist/esm/utilities/imageIdToURI.js';
import {
  getPixelSpacingInformation,
  calculateRadiographicPixelSpacing,
  getERMF,
} from '../node_modules/@cornerstonejs/metadata/dist/esm/utilities/getPixelSpacingInformation.js';
import calibratedPixelSpacingMetadataProvider from '../node_modules/@cornerstonejs/metadata/dist/esm/utilities/calibratedPixelSpacingMetadataProvider.js';
import splitImageIdsBy4DTags, {
  handleMultiframe4D,
  generateFrameImageId,
} from '../node_modules/@cornerstonejs/metadata/dist/esm/utilities/splitImageIdsBy4DTags.js';

function notBundled(name) {
  return () => {
    throw new Error(`ReaderViewer: @cornerstonejs/metadata's ${name} (dcmjs) is not bundled`);
  };
}

export { metaData, logging };
export const Enums = Object.freeze({ MetadataModules, CalibrationTypes, TransferSyntaxes });
export const utilities = Object.freeze({
  isVideoTransferSyntax,
  videoUIDs,
  imageIdToURI,
  getPixelSpacingInformation,
  calculateRadiographicPixelSpacing,
  getERMF,
  calibratedPixelSpacingMetadataProvider,
  splitImageIdsBy4DTags,
  handleMultiframe4D,
  generateFrameImageId,
  // The naturalized (dcmjs) path of the loader, which the viewer does not register.
  addDicomPart10Instance: notBundled('addDicomPart10Instance'),
  clearCacheData: notBundled('clearCacheData'),
});
export const registerDefaultProviders = notBundled('registerDefaultProviders');
