/** Detectors: clients that send encoded tiles to a model endpoint and return its features. */
export type { Detection, DetectionContext, Detector } from './detector.js';
export { DetectorError } from './detector-error.js';
export type { DetectorErrorDetails, DetectorErrorKind } from './detector-error.js';
export { HttpDetector } from './http-detector.js';
export type { HttpDetectorOptions } from './http-detector.js';
export { backoffDelayMs, isRetryableStatus, parseRetryAfterMs, retryDelayMs } from './retry-policy.js';
export { SageMakerDetector, SAGEMAKER_INVOKE_PARAMETERS, filterInvokeParameters } from './sagemaker-detector.js';
export type { SageMakerDetectorOptions, SageMakerInvokeParameter } from './sagemaker-detector.js';
export { parseFeatureCollection } from './feature-collection.js';
